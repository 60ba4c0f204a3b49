"""One frame in, one :class:`Analysis` out: detect → quality gate → align → embed.

Pure and synchronous (no threads, no Qt): the UI's camera worker calls :meth:`FacePipeline.analyse`
in its own thread; tools and tests call it directly.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from lockers.config import QualityConfig, Settings
from lockers.vision.align import InputMode, align_face
from lockers.vision.antispoof import PresentationAttackDetector
from lockers.vision.detector import FaceDetector
from lockers.vision.embedder import Embedder
from lockers.vision.image_io import check_rgb
from lockers.vision.pad import PadScore
from lockers.vision.quality import QualityReport, assess
from lockers.vision.tracking import FaceTracker
from lockers.vision.types import DetectedFace, Detections, StageTimes


@dataclass(frozen=True)
class Analysis:
    """What the pipeline saw in one frame.

    ``aligned`` and ``embedding`` are set only for a subject that passed the quality gate
    (``embedding`` only when the pipeline has an embedder and was asked to embed). ``pad``:
    the passive anti-spoofing models' output for a single subject, when the pipeline has them.
    """

    detections: Detections
    quality: QualityReport
    aligned: npt.NDArray[np.uint8] | None = None
    embedding: npt.NDArray[np.float32] | None = None
    times: StageTimes = field(default_factory=StageTimes)
    pad: PadScore | None = None
    tracked: bool = False  # detected by refining the last frame's faces (no P-Net pyramid)

    @property
    def subject(self) -> DetectedFace | None:
        return self.detections.subject

    @property
    def multiple_faces(self) -> bool:
        return self.detections.multiple_faces

    @property
    def usable(self) -> bool:
        """A single, good face: the only kind the kiosk enrols or matches."""
        return self.quality.ok and self.aligned is not None


class FacePipeline:
    """The kiosk's face pipeline with its collaborators passed in.

    Args:
        detector: finds faces and picks the subject.
        quality: the gate's thresholds.
        embedder: optional; without one, :meth:`analyse` stops after alignment.
        input_mode: ``aligned`` (5-point similarity) or ``crop`` (the detector's box).
        pad: optional passive anti-spoofing models; they score every frame with one subject
            (also frames the gate refuses: the head-turn frames are not frontal).
    """

    def __init__(
        self,
        detector: FaceDetector,
        quality: QualityConfig,
        embedder: Embedder | None = None,
        input_mode: InputMode = "aligned",
        pad: PresentationAttackDetector | None = None,
    ) -> None:
        self.detector = detector
        self.pad = pad
        self.quality = quality
        self.embedder = embedder
        self.input_mode: InputMode = input_mode
        self.tracker = FaceTracker(detector, detector.config)

    @classmethod
    def from_settings(cls, settings: Settings, embedder: Embedder | None = None) -> FacePipeline:
        threads = settings.detection.threads or settings.recognition.threads
        return cls(
            FaceDetector(
                settings.detection, threads=threads, cache_dir=settings.recognition.weights.parent
            ),
            settings.quality,
            embedder,
            settings.recognition.input_mode,
        )

    def analyse(
        self,
        image: npt.NDArray[np.uint8],
        *,
        embed: bool = True,
        content_box: tuple[int, int, int, int] | None = None,
        frame_index: int | None = None,
    ) -> Analysis:
        """Analyse one RGB uint8 frame of shape ``(H, W, 3)``.

        A subject that fails the gate (or shares the frame with a second person) is reported
        with its reasons and is neither aligned nor embedded. ``content_box`` is
        :attr:`lockers.vision.camera.Frame.content_box` for letterboxed frames.

        ``frame_index`` (:attr:`lockers.vision.camera.Frame.index`) marks a video frame: while
        frames are consecutive, faces are tracked between full detections
        (:class:`~lockers.vision.tracking.FaceTracker`). Without it every call is a full
        detection, as for unrelated still images.
        """
        check_rgb(image)
        t0 = time.perf_counter()
        if frame_index is None:
            detections = self.detector.detect(image)
            tracked = False
        else:
            detections = self.tracker.detect(image, frame_index)
            tracked = self.tracker.last_step.mode == "tracked"
        t1 = time.perf_counter()
        report = assess(
            image,
            detections.subject,
            self.quality,
            multiple_faces=detections.multiple_faces,
            content_box=content_box,
        )
        t2 = time.perf_counter()
        aligned = embedding = None
        t3 = t4 = t2
        if report.ok and detections.subject is not None:
            aligned = align_face(image, detections.subject, self.input_mode)
            t3 = time.perf_counter()
            if embed and self.embedder is not None:
                embedding = self.embedder.embed(aligned[None])[0]
            t4 = time.perf_counter()
        times = StageTimes(
            detect_ms=(t1 - t0) * 1e3,
            quality_ms=(t2 - t1) * 1e3,
            align_ms=(t3 - t2) * 1e3,
            embed_ms=(t4 - t3) * 1e3,
        )
        pad = None
        subject = detections.subject
        if self.pad is not None and subject is not None and not detections.multiple_faces:
            pad = self.pad.score(image, subject.box)
        return Analysis(detections, report, aligned, embedding, times, pad, tracked)

    def embed_aligned(self, faces: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
        """Embeddings of aligned faces ``(n, 160, 160, 3)`` in one batch (the frames a flow
        chose after the fact, e.g. the best of a capture window)."""
        if self.embedder is None:
            raise RuntimeError("this pipeline has no embedder")
        return self.embedder.embed(faces)

    def analyse_image(self, image: npt.NDArray[np.uint8]) -> Analysis:
        """Like :meth:`analyse`, for still images (enrolment photos, dataset preparation)."""
        return self.analyse(image)
