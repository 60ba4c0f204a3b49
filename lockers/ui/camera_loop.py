"""The camera worker's logic without Qt: load the model, open the camera, read → analyse →
report each frame, embed the capture window's faces between frames.

:class:`CameraLoop` reports through a :class:`CameraEvents` sink; the Qt worker
(:class:`~lockers.ui.camera_worker.CameraWorker`) turns those calls into signals and runs the
loop in its thread, and tests drive the loop with a plain sink. It never raises: failures are
reported. A frame whose analysis raises is lost, not the camera: only ``max_frame_failures``
failures in a row report the model as failing, and the next frame that analyses reports it
recovered (the loop keeps probing every frame while failing, on any screen).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import numpy as np
import numpy.typing as npt

from lockers.errors import CameraError, LockersError
from lockers.kiosk.flow_values import FrameObservation

IDLE_BEAT_S = 1.0
MODEL_LOAD_GRACE_S = 600.0  # longest model load (first ONNX export) before the watchdog may act

if TYPE_CHECKING:
    from lockers.vision.camera import Frame, FrameSource
    from lockers.vision.pipeline import FacePipeline

log = logging.getLogger("lockers.ui.camera_worker")

Box = tuple[float, float, float, float]


@dataclass(frozen=True, eq=False)
class FramePacket:
    """One frame for the screens: the picture, where the faces are, what the flow needs.

    ``image``: RGB uint8 ``(h, w, 3)``, read-only; ``boxes``: ``(x1, y1, x2, y2)`` pixels, the
    subject first; ``observation``: ``None`` when the frame was not analysed (idle screens, or
    its analysis failed).
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


class CameraEvents(Protocol):
    """Where the loop reports (called in the loop's thread)."""

    def model_ready(self, info: ModelInfo) -> None: ...
    def model_failed(self, message: str, hint: str) -> None: ...
    def camera_online(self, name: str) -> None: ...
    def camera_offline(self, message: str) -> None: ...
    def frame(self, packet: FramePacket) -> None: ...
    def faces_embedded(self, job: int, embeddings: npt.NDArray[np.float32]) -> None: ...
    def embed_failed(self, job: int, message: str) -> None: ...
    def analysis_failing(self, message: str) -> None: ...
    def analysis_recovered(self) -> None: ...


class CameraLoop:
    """Loads the pipeline, reads the camera and analyses frames (in the caller's thread).

    Args:
        pipeline_factory: builds the face pipeline (called once, at the start of :meth:`run`).
        camera_factory: opens the frame source (again after a failure, ``retry_s`` later).
        events: where everything is reported.
        max_frame_failures: analyses failing in a row before the model is reported failing.
        beat: called on every turn of the loop (the watchdog's "camera made progress").
    """

    def __init__(
        self,
        pipeline_factory: Callable[[], FacePipeline],
        camera_factory: Callable[[], FrameSource],
        events: CameraEvents,
        *,
        retry_s: float = 2.0,
        max_frame_failures: int = 5,
        beat: Callable[[], None] = lambda: None,
    ) -> None:
        if max_frame_failures < 1:
            raise ValueError(f"max_frame_failures must be at least 1, got {max_frame_failures}")
        self._pipeline_factory = pipeline_factory
        self._camera_factory = camera_factory
        self._events = events
        self._retry_s = retry_s
        self._max_failures = max_frame_failures
        self._beat = beat
        self._stop = threading.Event()
        self.analyse = threading.Event()
        self.embed = threading.Event()
        self._jobs: queue.SimpleQueue[tuple[int, npt.NDArray[np.uint8]]] = queue.SimpleQueue()
        self.embedded_frames = 0  # frames whose face the loop embedded (tests, the log)
        self.failed_frames = 0  # analyses that raised, in all
        self._failures_in_row = 0
        self._source: FrameSource | None = None
        self._source_lock = threading.Lock()

    # -- control from other threads (thread-safe) --------------------------------------------

    def embed_faces(self, job: int, faces: npt.NDArray[np.uint8]) -> None:
        self._jobs.put((job, faces))

    def stop(self) -> None:
        self._stop.set()
        with self._source_lock:
            if self._source is not None:
                self._source.interrupt()

    @property
    def failing(self) -> bool:
        return self._failures_in_row >= self._max_failures

    # -- the loop ----------------------------------------------------------------------------

    def run(self) -> None:
        """Load, open, loop until stopped (or a replay ends). Never raises."""
        try:
            self._beat()
            pipeline = self._load()
            if pipeline is not None:
                self._loop(pipeline)
            else:
                self._idle_until_stopped()
        except Exception as exc:  # never across the thread boundary
            log.exception("camera worker failed")
            self._events.camera_offline(f"camera worker failed: {exc}")
        finally:
            self._close_source()

    def _idle_until_stopped(self) -> None:
        """No model: the kiosk stays out of order with the reason on screen. The thread is not
        hung, so it keeps beating (the watchdog would otherwise restart the kiosk in a loop)."""
        while not self._stop.wait(IDLE_BEAT_S):
            self._beat()

    def _load(self) -> FacePipeline | None:
        start = time.monotonic()
        # A first start exports the ONNX models (tens of seconds): beat meanwhile, for a
        # bounded time, so the watchdog restarts only a load that really hangs.
        done = threading.Event()
        ticker = threading.Thread(
            target=self._beat_while_loading, args=(done,), name="model-load-beat", daemon=True
        )
        ticker.start()
        try:
            return self._loaded(start)
        finally:
            done.set()
            ticker.join()

    def _beat_while_loading(self, done: threading.Event) -> None:
        deadline = time.monotonic() + MODEL_LOAD_GRACE_S
        while not done.wait(IDLE_BEAT_S) and time.monotonic() < deadline:
            self._beat()

    def _loaded(self, start: float) -> FacePipeline | None:
        try:
            pipeline = self._pipeline_factory()
        except LockersError as exc:
            self._events.model_failed(exc.message, exc.hint)
            return None
        except Exception as exc:
            log.exception("loading the face model failed")
            self._events.model_failed(f"the face model could not be loaded: {exc}", "")
            return None
        embedder = pipeline.embedder
        info = ModelInfo(
            model_version=getattr(embedder, "model_version", "none"),
            backend=getattr(embedder, "backend", "none"),
            load_s=time.monotonic() - start,
        )
        self._events.model_ready(info)
        return pipeline

    def _open(self) -> FrameSource | None:
        while not self._stop.is_set():
            self._beat()
            try:
                source = self._camera_factory()
            except CameraError as exc:
                self._events.camera_offline(exc.message)
                self._stop.wait(self._retry_s)
                continue
            with self._source_lock:
                if self._stop.is_set():
                    source.close()
                    return None
                self._source = source
            self._events.camera_online(source.name)
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
            self._beat()
            self._run_jobs(pipeline)
            try:
                frame = source.read()
            except CameraOffline as exc:
                online = False
                self._events.camera_offline(exc.message)
                continue
            except CameraError as exc:
                self._events.camera_offline(exc.message)
                self._close_source()
                self._stop.wait(self._retry_s)
                source = self._open()
                continue
            if frame is None:
                if not self._stop.is_set():
                    # A replay that ended (loop off): nothing more will come.
                    self._events.camera_offline(f"{source.name} delivered its last frame")
                break
            if not online:
                online = True
                self._events.camera_online(source.name)
            self._events.frame(self._checked_packet(pipeline, frame))

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
                self._events.embed_failed(job, f"the face model failed: {exc}")
                continue
            finally:
                del faces  # the crops go with the job
            self._events.faces_embedded(job, embeddings)

    # -- one frame ---------------------------------------------------------------------------

    def _checked_packet(self, pipeline: FacePipeline, frame: Frame) -> FramePacket:
        """The frame analysed when asked (or while probing a failing model); a failed analysis
        loses that frame's analysis only."""
        image = frame.image
        image.setflags(write=False)
        if not (self.analyse.is_set() or self.failing):
            return FramePacket(image, frame.timestamp, frame.index, (), False, None)
        try:
            packet = self._analysed(pipeline, frame)
        except Exception as exc:  # one bad frame must not stop the camera
            self._analysis_failed(exc)
            return FramePacket(image, frame.timestamp, frame.index, (), False, None)
        if self._failures_in_row:
            recovering = self.failing
            log.info("frames analyse again after %d failure(s)", self._failures_in_row)
            self._failures_in_row = 0
            if recovering:
                self._events.analysis_recovered()
        return packet

    def _analysed(self, pipeline: FacePipeline, frame: Frame) -> FramePacket:
        embed = self.embed.is_set() and self.analyse.is_set()
        analysis = pipeline.analyse(frame.image, embed=embed, frame_index=frame.index)
        self.embedded_frames += analysis.embedding is not None
        return FramePacket(
            image=frame.image,
            timestamp=frame.timestamp,
            index=frame.index,
            boxes=tuple(face.box for face in analysis.detections.faces),
            subject_ok=analysis.usable,
            observation=FrameObservation.from_analysis(analysis, frame.index),
        )

    def _analysis_failed(self, exc: Exception) -> None:
        self.failed_frames += 1
        self._failures_in_row += 1
        if self._failures_in_row == 1:
            log.exception("analysing frame failed (the frame is skipped)")
        if self._failures_in_row == self._max_failures:
            self._events.analysis_failing(
                f"the face model failed on {self._failures_in_row} frames in a row: {exc}"
            )
