"""The camera and the face pipeline on their own thread; results reach the UI by signals.

:class:`CameraWorker` is a ``QObject`` moved to a ``QThread``. Its ``run`` slot loads the model
(seconds: never on the UI thread), opens the camera, then loops read → analyse → emit an
immutable :class:`FramePacket`. It never raises across the thread: failures become signals
(``model_failed``, ``camera_offline``). Stopping: :meth:`CameraWorker.stop` sets a flag and
interrupts the source; :class:`CameraThread` then quits and joins the thread.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
from PySide6.QtCore import QObject, QThread, Signal, Slot

from lockers.errors import CameraError, LockersError
from lockers.kiosk.flow import FrameObservation
from lockers.ui.qt_compat import emit

if TYPE_CHECKING:
    from lockers.vision.camera import Frame, FrameSource
    from lockers.vision.pipeline import FacePipeline

log = logging.getLogger(__name__)

Box = tuple[float, float, float, float]


@dataclass(frozen=True, eq=False)
class FramePacket:
    """One frame for the screens: the picture, where the faces are, what the flow needs.

    ``image``: RGB uint8 ``(h, w, 3)``, read-only; ``boxes``: ``(x1, y1, x2, y2)`` pixels, the
    subject first; ``observation``: ``None`` when the frame was not analysed (idle screens).
    """

    image: npt.NDArray[np.uint8]
    timestamp: float
    index: int
    boxes: tuple[Box, ...]
    subject_ok: bool
    observation: FrameObservation | None


@dataclass(frozen=True)
class ModelInfo:
    model_version: str
    backend: str
    load_s: float


class CameraWorker(QObject):
    """Loads the pipeline, reads the camera and analyses frames in its thread.

    Args:
        pipeline_factory: builds the face pipeline (called once, in the worker thread).
        camera_factory: opens the frame source (called in the worker thread; again after a
            failure, with back-off).
        retry_s: wait before reopening a camera that failed to open.
    """

    model_ready = Signal(object)  # ModelInfo
    model_failed = Signal(str, str)  # message, hint
    camera_online = Signal(str)  # source name
    camera_offline = Signal(str)  # message
    frame_ready = Signal(object)  # FramePacket
    faces_embedded = Signal(int, object)  # job, (m, 512) float32
    embed_failed = Signal(int, str)  # job, message
    finished = Signal()

    def __init__(
        self,
        pipeline_factory: Callable[[], FacePipeline],
        camera_factory: Callable[[], FrameSource],
        *,
        retry_s: float = 2.0,
    ) -> None:
        super().__init__()
        self._pipeline_factory = pipeline_factory
        self._camera_factory = camera_factory
        self._retry_s = retry_s
        self._stop = threading.Event()
        self._analyse = threading.Event()
        self._embed = threading.Event()
        self._jobs: queue.SimpleQueue[tuple[int, npt.NDArray[np.uint8]]] = queue.SimpleQueue()
        self.embedded_frames = 0  # frames whose face the loop embedded (tests, the log)
        self._source: FrameSource | None = None
        self._source_lock = threading.Lock()

    # -- control from the UI thread (thread-safe) --------------------------------------------

    def set_analysing(self, on: bool) -> None:
        """Run detection and embedding on frames (capture and scan screens) or only show them."""
        if on:
            self._analyse.set()
        else:
            self._analyse.clear()

    def set_embedding(self, on: bool) -> None:
        """Embed the faces of analysed frames that pass the quality gate (the flow's
        :meth:`~lockers.kiosk.flow.KioskFlow.wants_embedding`), or only detect, gate and align
        them. Frames that fail the gate are never embedded."""
        if on:
            self._embed.set()
        else:
            self._embed.clear()

    def embed_faces(self, job: int, faces: npt.NDArray[np.uint8]) -> None:
        """Embed aligned ``faces`` in the worker thread (before its next frame); the answer is
        ``faces_embedded(job, embeddings)`` or ``embed_failed(job, message)``."""
        self._jobs.put((job, faces))

    def stop(self) -> None:
        self._stop.set()
        with self._source_lock:
            if self._source is not None:
                self._source.interrupt()

    # -- the loop (worker thread) ------------------------------------------------------------

    @Slot()
    def run(self) -> None:
        try:
            pipeline = self._load()
            if pipeline is not None:
                self._loop(pipeline)
        except Exception as exc:  # never across the thread boundary
            log.exception("camera worker failed")
            emit(self.camera_offline, f"camera worker failed: {exc}")
        finally:
            self._close_source()
            emit(self.finished)

    def _load(self) -> FacePipeline | None:
        start = time.monotonic()
        try:
            pipeline = self._pipeline_factory()
        except LockersError as exc:
            emit(self.model_failed, exc.message, exc.hint)
            return None
        except Exception as exc:
            log.exception("loading the face model failed")
            emit(self.model_failed, f"the face model could not be loaded: {exc}", "")
            return None
        embedder = pipeline.embedder
        emit(
            self.model_ready,
            ModelInfo(
                model_version=getattr(embedder, "model_version", "none"),
                backend=getattr(embedder, "backend", "none"),
                load_s=time.monotonic() - start,
            ),
        )
        return pipeline

    def _open(self) -> FrameSource | None:
        while not self._stop.is_set():
            try:
                source = self._camera_factory()
            except CameraError as exc:
                emit(self.camera_offline, exc.message)
                self._stop.wait(self._retry_s)
                continue
            with self._source_lock:
                if self._stop.is_set():
                    source.close()
                    return None
                self._source = source
            emit(self.camera_online, source.name)
            return source
        return None

    def _close_source(self) -> None:
        with self._source_lock:
            source, self._source = self._source, None
        if source is not None:
            source.close()

    def _loop(self, pipeline: FacePipeline) -> None:
        from lockers.vision.camera import CameraOffline

        source = self._open()
        online = True
        while source is not None and not self._stop.is_set():
            self._run_jobs(pipeline)
            try:
                frame = source.read()
            except CameraOffline as exc:
                online = False
                emit(self.camera_offline, exc.message)
                continue
            except CameraError as exc:
                emit(self.camera_offline, exc.message)
                self._close_source()
                self._stop.wait(self._retry_s)
                source = self._open()
                continue
            if frame is None:
                if self._stop.is_set():
                    break
                # A replay that ended (loop off): nothing more will come.
                emit(self.camera_offline, f"{source.name} delivered its last frame")
                break
            if not online:
                online = True
                emit(self.camera_online, source.name)
            emit(self.frame_ready, self._packet(pipeline, frame))

    def _run_jobs(self, pipeline: FacePipeline) -> None:
        while True:
            try:
                job, faces = self._jobs.get_nowait()
            except queue.Empty:
                return
            try:
                embeddings = pipeline.embed_aligned(faces)
            except Exception as exc:  # never across the thread boundary
                log.exception("embedding the capture window's faces failed")
                emit(self.embed_failed, job, f"the face model failed: {exc}")
                continue
            finally:
                del faces  # the crops go with the job
            emit(self.faces_embedded, job, embeddings)

    def _packet(self, pipeline: FacePipeline, frame: Frame) -> FramePacket:
        image = frame.image
        image.setflags(write=False)
        observation: FrameObservation | None = None
        boxes: tuple[Box, ...] = ()
        subject_ok = False
        if self._analyse.is_set():
            embed = self._embed.is_set()
            analysis = pipeline.analyse(image, embed=embed, frame_index=frame.index)
            self.embedded_frames += analysis.embedding is not None
            observation = FrameObservation.from_analysis(analysis, frame.index)
            boxes = tuple(face.box for face in analysis.detections.faces)
            subject_ok = analysis.usable
        return FramePacket(
            image=image,
            timestamp=frame.timestamp,
            index=frame.index,
            boxes=boxes,
            subject_ok=subject_ok,
            observation=observation,
        )


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
