"""Value objects of the face pipeline. Pure numpy; no torch, no OpenCV."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

EMBEDDING_DIM = 512
"""Length of every face embedding and template (InceptionResnetV1's output)."""

LANDMARK_NAMES = ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")
"""Order of the 5 MTCNN landmarks; "left" is the image's left (the subject's right eye)."""


@dataclass(frozen=True)
class DetectedFace:
    """One face found in a frame.

    Attributes:
        box: ``(x1, y1, x2, y2)`` in frame pixels (float, may extend past the frame edges).
        prob: detector confidence in [0, 1].
        landmarks: float32 array of shape ``(5, 2)``, ``(x, y)`` frame pixels, in
            :data:`LANDMARK_NAMES` order.
    """

    box: tuple[float, float, float, float]
    prob: float
    landmarks: npt.NDArray[np.float32]

    def __post_init__(self) -> None:
        x1, y1, x2, y2 = self.box
        if not (x2 > x1 and y2 > y1):
            raise ValueError(f"box must have x2 > x1 and y2 > y1, got {self.box}")
        if self.landmarks.shape != (5, 2):
            raise ValueError(f"landmarks must have shape (5, 2), got {self.landmarks.shape}")

    @property
    def width(self) -> float:
        return self.box[2] - self.box[0]

    @property
    def height(self) -> float:
        return self.box[3] - self.box[1]

    @property
    def center(self) -> tuple[float, float]:
        return ((self.box[0] + self.box[2]) / 2, (self.box[1] + self.box[3]) / 2)

    def to_json(self) -> dict[str, object]:
        return {
            "box": [round(v, 1) for v in self.box],
            "prob": round(self.prob, 4),
            "landmarks": [[round(float(x), 1), round(float(y), 1)] for x, y in self.landmarks],
        }


@dataclass(frozen=True)
class Detections:
    """All faces in one frame, the chosen subject first.

    ``multiple_faces`` is True when another face big enough to be a second person standing at
    the kiosk is present: the kiosk must then neither enrol nor let anyone in.
    """

    frame_size: tuple[int, int]  # (width, height)
    faces: tuple[DetectedFace, ...] = ()
    multiple_faces: bool = False

    @property
    def subject(self) -> DetectedFace | None:
        return self.faces[0] if self.faces else None


@dataclass(frozen=True)
class StageTimes:
    """Milliseconds spent in each stage for one frame (0 for a stage that did not run)."""

    detect_ms: float = 0.0
    quality_ms: float = 0.0
    align_ms: float = 0.0
    embed_ms: float = 0.0
    extra: dict[str, float] = field(default_factory=dict)
