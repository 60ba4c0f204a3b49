"""One K-Face image → one aligned face, with the kiosk's own detector, quality gate and aligner.

Runs in the import's worker processes (each builds its own detector: ONNX Runtime sessions are
not shared across processes). The detector always runs on the whole frame, exactly as at the
locker, so training and serving see the same crops. A box file, when there is one, says which
detected face is the subject (the annotated face; detections elsewhere are ignored). Without
one the kiosk's own rule picks the subject and a second person refuses the image.
"""

from __future__ import annotations

import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from lockers.training.kface_layout import BoxFileError, KFaceImage, read_box_file

if TYPE_CHECKING:
    import numpy.typing as npt

    from lockers.config import Settings
    from lockers.vision.types import DetectedFace

MIN_BOX_OVERLAP = 0.5
"""A detected face belongs to the file box when at least this share of it lies inside the box
and its centre does."""


@dataclass(frozen=True)
class ImportOptions:
    """How faces are made: input mode, gate on/off, how box files are written."""

    mode: str = "aligned"
    gate: bool = True
    box_format: str = "xywh"


@dataclass
class ImageOutcome:
    """What became of one image. ``box``: ``file`` (the box file located the face),
    ``detector`` (no box file) or ``detector-bad-box`` (a box file that could not be used)."""

    rel: str
    written: bool
    reasons: list[str] = field(default_factory=list)
    box: str = "detector"
    box_problem: str | None = None
    seconds: float = 0.0

    def to_json(self) -> dict[str, object]:
        return {
            "rel": self.rel,
            "written": self.written,
            "reasons": self.reasons,
            "box": self.box,
            "box_problem": self.box_problem,
        }

    @classmethod
    def from_json(cls, data: dict[str, object]) -> ImageOutcome:
        return cls(
            rel=str(data["rel"]),
            written=bool(data["written"]),
            reasons=[str(r) for r in data.get("reasons") or []],  # type: ignore[attr-defined]
            box=str(data.get("box", "detector")),
            box_problem=None if data.get("box_problem") is None else str(data["box_problem"]),
        )


class KFaceFaceMaker:
    """Makes and writes the aligned face of K-Face images (one instance per worker process)."""

    def __init__(self, settings: Settings, src: Path, dst: Path, options: ImportOptions) -> None:
        from lockers.vision.detector import FaceDetector

        threads = settings.detection.threads or settings.recognition.threads
        self.detector = FaceDetector(
            settings.detection, threads=threads, cache_dir=settings.recognition.weights.parent
        )
        self.quality = settings.quality
        self.src, self.dst, self.options = src, dst, options

    def process(self, image: KFaceImage) -> ImageOutcome:
        """Detect, gate, align and write ``dst/<person>/<S_L_E_C>.png``; never raises for bad
        input (an unexpected failure is reported as the image's reason)."""
        start = time.perf_counter()
        try:
            outcome = self._process(image)
        except Exception as exc:  # one odd file must not stop an import of millions
            outcome = ImageOutcome(image.rel, False, [f"failed: {type(exc).__name__}: {exc}"])
        outcome.seconds = time.perf_counter() - start
        return outcome

    def _process(self, image: KFaceImage) -> ImageOutcome:
        from lockers.errors import ImageError
        from lockers.vision.align import align_face
        from lockers.vision.image_io import load_image
        from lockers.vision.quality import assess

        outcome = ImageOutcome(image.rel, False)
        try:
            pixels = load_image(self.src / image.rel)
        except ImageError as exc:
            outcome.reasons.append(f"unreadable: {exc.message}")
            return outcome
        box = None
        try:
            annotation = read_box_file(self.src / image.box_rel, self.options.box_format)
        except BoxFileError as exc:
            outcome.box, outcome.box_problem = "detector-bad-box", f"{image.box_rel}: {exc}"
            annotation = None
        if annotation is not None:
            box = _clip_box(annotation.box, pixels.shape[1], pixels.shape[0])
            if box is None:
                outcome.box = "detector-bad-box"
                outcome.box_problem = (
                    f"{image.box_rel}: the box {annotation.box} lies outside the "
                    f"{pixels.shape[1]}x{pixels.shape[0]} image (wrong --box-format?)"
                )
        if box is not None:
            outcome.box = "file"
            subject, multiple = self._face_in_box(pixels, box), False
            if subject is None:
                outcome.reasons.append("no_face_in_box")
                return outcome
        else:
            detections = self.detector.detect(pixels)
            subject, multiple = detections.subject, detections.multiple_faces
            if subject is None:
                outcome.reasons.append("no_face")
                return outcome
        if multiple:
            outcome.reasons.append("multiple_faces")
            return outcome
        report = assess(pixels, subject, self.quality)
        if self.options.gate and not report.ok:
            outcome.reasons.extend(report.reasons)
            return outcome
        face = align_face(pixels, subject, self.options.mode)  # type: ignore[arg-type]
        _write_png(self.dst / image.person / image.out_name, face)
        outcome.written = True
        return outcome

    def _face_in_box(
        self, pixels: npt.NDArray[np.uint8], box: tuple[float, float, float, float]
    ) -> DetectedFace | None:
        """The kiosk detector's face (whole frame, exactly as at the locker) that the file box
        points at: its centre inside the box and most of it overlapping. Other detections are
        ignored: the annotation says who the subject is, so a false positive in the background
        does not cost the image."""
        inside = [f for f in self.detector.detect(pixels).faces if _belongs_to(f, box)]
        return max(inside, key=lambda f: f.width * f.height) if inside else None


def _clip_box(
    box: tuple[float, float, float, float], width: int, height: int
) -> tuple[float, float, float, float] | None:
    """The box clipped to the image; None when less than half of it is inside."""
    x1, y1, x2, y2 = box
    cx1, cy1, cx2, cy2 = max(0.0, x1), max(0.0, y1), min(float(width), x2), min(float(height), y2)
    if cx2 <= cx1 or cy2 <= cy1:
        return None
    if (cx2 - cx1) * (cy2 - cy1) < 0.5 * (x2 - x1) * (y2 - y1):
        return None
    return (cx1, cy1, cx2, cy2)


def _belongs_to(face: DetectedFace, box: tuple[float, float, float, float]) -> bool:
    x1, y1, x2, y2 = box
    cx, cy = face.center
    if not (x1 <= cx <= x2 and y1 <= cy <= y2):
        return False
    fx1, fy1, fx2, fy2 = face.box
    inter = max(0.0, min(x2, fx2) - max(x1, fx1)) * max(0.0, min(y2, fy2) - max(y1, fy1))
    return inter >= MIN_BOX_OVERLAP * face.width * face.height


def _write_png(path: Path, face: npt.NDArray[np.uint8]) -> None:
    """Write atomically: an interrupted import never leaves half a PNG that a resume would
    take for a finished face."""
    import cv2

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".png", dir=path.parent)
    os.close(fd)
    try:
        if not cv2.imwrite(tmp_name, cv2.cvtColor(face, cv2.COLOR_RGB2BGR)):
            raise OSError(f"cannot write {path}")
        os.replace(tmp_name, path)
    finally:
        Path(tmp_name).unlink(missing_ok=True)


# ----------------------------------------------------------------------------- worker process

_MAKER: KFaceFaceMaker | None = None


def init_worker(settings: Settings, src: Path, dst: Path, options: ImportOptions) -> None:
    """Process-pool initialiser: one detector per worker, one thread each."""
    import cv2

    cv2.setNumThreads(1)
    global _MAKER
    _MAKER = KFaceFaceMaker(settings, src, dst, options)


def process_chunk(images: list[KFaceImage]) -> list[ImageOutcome]:
    """Process-pool task: a few images at a time (fewer round trips than one each)."""
    maker = _MAKER
    if maker is None:  # a pool built without initializer=init_worker: a programming error
        raise RuntimeError("process_chunk ran in a process where init_worker did not run")
    return [maker.process(image) for image in images]
