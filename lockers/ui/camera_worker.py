"""The camera and the face pipeline on their own thread; results reach the UI by signals.

:class:`CameraWorker` is a ``QObject`` moved to a ``QThread``. Its ``run`` slot runs a
:class:`~lockers.ui.camera_loop.CameraLoop` (the logic, free of Qt): load the model (seconds:
never on the UI thread), open the camera, then read → analyse → emit an immutable
:class:`FramePacket`. It never raises across the thread: failures become signals
(``model_failed``, ``camera_offline``, ``analysis_failing``). Stopping:
:meth:`CameraWorker.stop` sets a flag and interrupts the source; :class:`CameraThread` then
quits and joins the thread.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
from PySide6.QtCore import QObject, QThread, Signal, Slot

from lockers.ui.camera_loop import CameraLoop, FramePacket, ModelInfo
from lockers.ui.ports import ProgressBeat
from lockers.ui.qt_compat import emit

if TYPE_CHECKING:
    from lockers.vision.camera import FrameSource
    from lockers.vision.pipeline import FacePipeline

__all__ = ["CameraThread", "CameraWorker", "FramePacket", "ModelInfo"]


class CameraWorker(QObject):
    """Loads the pipeline, reads the camera and analyses frames in its thread.

    Args:
        pipeline_factory: builds the face pipeline (called once, in the worker thread).
        camera_factory: opens the frame source (called in the worker thread; again after a
            failure, ``retry_s`` later).
        max_frame_failures: frame analyses failing in a row before ``analysis_failing``.
        watch: told ``camera`` on every turn of the loop (the systemd watchdog), or ``None``.
    """

    model_ready = Signal(object)  # ModelInfo
    model_failed = Signal(str, str)  # message, hint
    camera_online = Signal(str)  # source name
    camera_offline = Signal(str)  # message
    frame_ready = Signal(object)  # FramePacket
    faces_embedded = Signal(int, object)  # job, (m, 512) float32
    embed_failed = Signal(int, str)  # job, message
    analysis_failing = Signal(str)  # why the model fails on every frame
    analysis_recovered = Signal()
    finished = Signal()

    def __init__(
        self,
        pipeline_factory: Callable[[], FacePipeline],
        camera_factory: Callable[[], FrameSource],
        *,
        retry_s: float = 2.0,
        max_frame_failures: int = 5,
        watch: ProgressBeat | None = None,
    ) -> None:
        super().__init__()
        beat = (lambda: None) if watch is None else (lambda: watch.beat("camera"))
        self.loop = CameraLoop(
            pipeline_factory,
            camera_factory,
            _Signals(self),
            retry_s=retry_s,
            max_frame_failures=max_frame_failures,
            beat=beat,
        )

    @property
    def embedded_frames(self) -> int:
        """Frames whose face the loop embedded (tests, the log)."""
        return self.loop.embedded_frames

    # -- control from the UI thread (thread-safe) --------------------------------------------

    def set_analysing(self, on: bool) -> None:
        """Run detection and embedding on frames (capture and scan screens) or only show them."""
        _set(self.loop.analyse, on)

    def set_embedding(self, on: bool) -> None:
        """Embed the faces of analysed frames that pass the quality gate (the flow's
        :meth:`~lockers.kiosk.flow.KioskFlow.wants_embedding`), or only detect, gate and align
        them. Frames that fail the gate are never embedded."""
        _set(self.loop.embed, on)

    def embed_faces(self, job: int, faces: npt.NDArray[np.uint8]) -> None:
        """Embed aligned ``faces`` in the worker thread (before its next frame); the answer is
        ``faces_embedded(job, embeddings)`` or ``embed_failed(job, message)``."""
        self.loop.embed_faces(job, faces)

    def stop(self) -> None:
        self.loop.stop()

    # -- the loop (worker thread) ------------------------------------------------------------

    @Slot()
    def run(self) -> None:
        try:
            self.loop.run()
        finally:
            emit(self.finished)


def _set(event: threading.Event, on: bool) -> None:
    if on:
        event.set()
    else:
        event.clear()


class _Signals:
    """:class:`~lockers.ui.camera_loop.CameraEvents` as the worker's signals (emitted in the
    worker thread, delivered on the UI thread)."""

    def __init__(self, worker: CameraWorker) -> None:
        self._w = worker

    def model_ready(self, info: ModelInfo) -> None:
        emit(self._w.model_ready, info)

    def model_failed(self, message: str, hint: str) -> None:
        emit(self._w.model_failed, message, hint)

    def camera_online(self, name: str) -> None:
        emit(self._w.camera_online, name)

    def camera_offline(self, message: str) -> None:
        emit(self._w.camera_offline, message)

    def frame(self, packet: FramePacket) -> None:
        emit(self._w.frame_ready, packet)

    def faces_embedded(self, job: int, embeddings: npt.NDArray[np.float32]) -> None:
        emit(self._w.faces_embedded, job, embeddings)

    def embed_failed(self, job: int, message: str) -> None:
        emit(self._w.embed_failed, job, message)

    def analysis_failing(self, message: str) -> None:
        emit(self._w.analysis_failing, message)

    def analysis_recovered(self) -> None:
        emit(self._w.analysis_recovered)


class CameraThread:
    """Owns the worker's ``QThread``: start once, stop (and join) once."""

    def __init__(self, worker: CameraWorker, owner: QObject | None = None) -> None:
        self.worker = worker
        self.thread = QThread(owner)
        self.thread.setObjectName("camera-worker")
        worker.moveToThread(self.thread)
        self.thread.started.connect(worker.run)
        worker.finished.connect(self.thread.quit)
        self._started = False

    def start(self) -> None:
        if not self._started:
            self._started = True
            self.thread.start()

    def stop(self, timeout_s: float = 5.0) -> bool:
        """Stop the loop and join the thread; False if it did not end within ``timeout_s``."""
        self.worker.stop()
        if not self._started:
            return True
        self.thread.quit()
        return self.thread.wait(int(timeout_s * 1000))
