"""The quality gate: is this face good enough to enrol or to match?

Every failure is a :class:`QualityIssue` code, which the UI turns into guidance ("come closer",
"look at the camera", "too dark"). Pose is estimated from the 5 landmarks alone (no 3D model):
good enough to ask someone to face the camera, not a measurement.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import numpy.typing as npt

from lockers.config import QualityConfig
from lockers.vision.types import DetectedFace

# Depth of the nose tip in front of the eye plane, as a fraction of the distance between the
# eyes (anthropometric average, ~35 mm vs ~63 mm); turns the nose's 2D offset into an angle.
_NOSE_DEPTH_RATIO = 0.55
# Where the nose tip sits between the eye line (0) and the mouth line (1) on a frontal face,
# measured on the portraits in ../shared/faces with MTCNN landmarks.
_FRONTAL_NOSE_RATIO = 0.62
# Sharpness and exposure are measured on the face resampled to this size, so the same face
# scores the same whether it is near or far.
_MEASURE_PX = 112


class QualityIssue(StrEnum):
    """Why a face was refused, in the order the UI should mention them."""

    NO_FACE = "no_face"
    MULTIPLE_FACES = "multiple_faces"
    PARTIALLY_OUTSIDE = "partially_outside"
    TOO_SMALL = "too_small"
    LOW_CONFIDENCE = "low_confidence"
    TOO_DARK = "too_dark"
    TOO_BRIGHT = "too_bright"
    LOW_CONTRAST = "low_contrast"
    BLURRY = "blurry"
    LOOK_AT_CAMERA = "look_at_camera"  # yaw or pitch too large
    HEAD_TILTED = "head_tilted"  # roll too large


@dataclass(frozen=True)
class HeadPose:
    """Estimated head pose in degrees: yaw (+ = turned to the image right), pitch (+ = chin up),
    roll (+ = clockwise in the image)."""

    yaw: float
    pitch: float
    roll: float


@dataclass(frozen=True)
class QualityReport:
    """Measurements of one face and the issues that fail the gate (empty when it passes)."""

    issues: tuple[QualityIssue, ...]
    face_px: float = 0.0
    prob: float = 0.0
    sharpness: float = 0.0
    brightness: float = 0.0
    contrast: float = 0.0
    pose: HeadPose | None = None

    @property
    def ok(self) -> bool:
        return not self.issues

    @property
    def reasons(self) -> list[str]:
        return [issue.value for issue in self.issues]

    @property
    def score(self) -> float:
        """A 0..1 figure for choosing the best of several good frames (sharp, frontal, big)."""
        if self.pose is None:
            return 0.0
        frontal = max(0.0, 1.0 - (abs(self.pose.yaw) + abs(self.pose.pitch)) / 90.0)
        sharp = min(1.0, self.sharpness / 400.0)
        size = min(1.0, self.face_px / 300.0)
        return round(self.prob * (0.5 * frontal + 0.3 * sharp + 0.2 * size), 4)

    def to_json(self) -> dict[str, object]:
        return {
            "ok": self.ok,
            "issues": self.reasons,
            "face_px": round(self.face_px, 1),
            "prob": round(self.prob, 4),
            "sharpness": round(self.sharpness, 1),
            "brightness": round(self.brightness, 1),
            "contrast": round(self.contrast, 1),
            "pose": None
            if self.pose is None
            else {k: round(v, 1) for k, v in vars(self.pose).items()},
            "score": self.score,
        }


NO_FACE_REPORT = QualityReport(issues=(QualityIssue.NO_FACE,))


def estimate_pose(landmarks: npt.NDArray[np.float32]) -> HeadPose:
    """Yaw, pitch and roll in degrees from the 5 MTCNN landmarks (shape ``(5, 2)``)."""
    left_eye, right_eye = landmarks[0].astype(np.float64), landmarks[1].astype(np.float64)
    eye_vec = right_eye - left_eye
    roll = math.degrees(math.atan2(eye_vec[1], eye_vec[0]))
    # Undo the roll so yaw and pitch are read along the face's own axes.
    c, s = math.cos(-math.radians(roll)), math.sin(-math.radians(roll))
    rot = np.array([[c, -s], [s, c]])
    eye_mid = (left_eye + right_eye) / 2
    le, re, no, ml, mr = ((p - eye_mid) @ rot.T for p in landmarks.astype(np.float64))
    eye_dist = max(1e-6, float(re[0] - le[0]))
    mouth_mid = (ml + mr) / 2
    yaw = math.degrees(math.atan2(float(no[0]), _NOSE_DEPTH_RATIO * eye_dist))
    eye_to_mouth = max(1e-6, float(mouth_mid[1]))
    nose_ratio = float(no[1]) / eye_to_mouth
    pitch = math.degrees(
        math.atan2((_FRONTAL_NOSE_RATIO - nose_ratio) * eye_to_mouth, _NOSE_DEPTH_RATIO * eye_dist)
    )
    return HeadPose(yaw=yaw, pitch=pitch, roll=roll)


def assess(
    image: npt.NDArray[np.uint8],
    face: DetectedFace | None,
    config: QualityConfig,
    *,
    multiple_faces: bool = False,
    content_box: tuple[int, int, int, int] | None = None,
) -> QualityReport:
    """Check one detected face in an RGB uint8 frame against the gate in ``config``.

    ``content_box`` (x, y, width, height) is where the camera's picture lies inside a
    letterboxed frame; a face must be inside the picture, not just inside the frame.
    """
    if face is None:
        return NO_FACE_REPORT
    issues: list[QualityIssue] = []
    if multiple_faces:
        issues.append(QualityIssue.MULTIPLE_FACES)
    height, width = image.shape[:2]
    if content_box is None:
        content_box = (0, 0, width, height)
    # Where the face is in the picture is never a reason to refuse it, only whether all of it
    # is in: a wheelchair user's face sits low in a camera aimed for standing height, and a
    # centring rule would tell them "move to the centre", which they cannot do
    # (tests/vision/test_low_reach.py holds faces in the lower third and quarter to this).
    if not _inside(face.box, content_box, config.border_px):
        issues.append(QualityIssue.PARTIALLY_OUTSIDE)
    face_px = min(face.width, face.height)
    if face_px < config.min_face_px:
        issues.append(QualityIssue.TOO_SMALL)
    if face.prob < config.min_prob:
        issues.append(QualityIssue.LOW_CONFIDENCE)
    brightness, contrast, sharpness = _measure_light(image, face.box)
    if brightness < config.min_brightness:
        issues.append(QualityIssue.TOO_DARK)
    elif brightness > config.max_brightness:
        issues.append(QualityIssue.TOO_BRIGHT)
    if contrast < config.min_contrast:
        issues.append(QualityIssue.LOW_CONTRAST)
    if sharpness < config.min_sharpness:
        issues.append(QualityIssue.BLURRY)

    pose = estimate_pose(face.landmarks)
    if abs(pose.yaw) > config.max_yaw_deg or abs(pose.pitch) > config.max_pitch_deg:
        issues.append(QualityIssue.LOOK_AT_CAMERA)
    if abs(pose.roll) > config.max_roll_deg:
        issues.append(QualityIssue.HEAD_TILTED)
    return QualityReport(
        issues=tuple(issues),
        face_px=face_px,
        prob=face.prob,
        sharpness=sharpness,
        brightness=brightness,
        contrast=contrast,
        pose=pose,
    )


def _inside(
    box: tuple[float, float, float, float], content_box: tuple[int, int, int, int], border: int
) -> bool:
    """Whether the face box lies ``border`` pixels inside the picture (``x, y, w, h``)."""
    x1, y1, x2, y2 = box
    left, top, picture_w, picture_h = content_box
    right, bottom = left + picture_w, top + picture_h
    return not (
        x1 < left + border or y1 < top + border or x2 > right - border or y2 > bottom - border
    )


def _measure_light(
    image: npt.NDArray[np.uint8], box: tuple[float, float, float, float]
) -> tuple[float, float, float]:
    """Brightness (mean grey), contrast (its deviation) and sharpness (variance of the
    Laplacian) of the face crop at a fixed size; zeros when the crop is under 8 px."""
    import cv2

    height, width = image.shape[:2]
    x1, y1, x2, y2 = box
    ix1, iy1 = max(0, int(x1)), max(0, int(y1))
    ix2, iy2 = min(width, math.ceil(x2)), min(height, math.ceil(y2))
    if ix2 - ix1 < 8 or iy2 - iy1 < 8:
        return 0.0, 0.0, 0.0
    grey = cv2.cvtColor(image[iy1:iy2, ix1:ix2], cv2.COLOR_RGB2GRAY)
    grey = cv2.resize(grey, (_MEASURE_PX, _MEASURE_PX), interpolation=cv2.INTER_AREA)
    return float(grey.mean()), float(grey.std()), float(cv2.Laplacian(grey, cv2.CV_64F).var())
