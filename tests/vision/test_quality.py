"""The quality gate turns real image problems into the right reason codes."""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from lockers.config import QualityConfig
from lockers.vision.align import TEMPLATE_160
from lockers.vision.detector import FaceDetector
from lockers.vision.quality import QualityIssue, assess, estimate_pose

GATE = QualityConfig()


def _check(detector: FaceDetector, image: npt.NDArray[np.uint8]) -> set[QualityIssue]:
    found = detector.detect(image)
    return set(assess(image, found.subject, GATE, multiple_faces=found.multiple_faces).issues)


def test_good_portraits_pass(
    detector: FaceDetector, portraits: dict[str, npt.NDArray[np.uint8]]
) -> None:
    for name, image in portraits.items():
        found = detector.detect(image)
        report = assess(image, found.subject, GATE)
        assert report.ok, (name, report.to_json())
        assert 0 < report.score <= 1


def test_no_face(detector: FaceDetector) -> None:
    assert _check(detector, np.full((480, 640, 3), 90, np.uint8)) == {QualityIssue.NO_FACE}


def test_dark_frame_says_too_dark(
    detector: FaceDetector, portraits: dict[str, npt.NDArray[np.uint8]]
) -> None:
    dark = (portraits["person01_1.jpg"].astype(np.float32) * 0.25).astype(np.uint8)
    assert QualityIssue.TOO_DARK in _check(detector, dark)


def test_blurred_frame_says_blurry(
    detector: FaceDetector, portraits: dict[str, npt.NDArray[np.uint8]]
) -> None:
    blurred = cv2.GaussianBlur(portraits["person01_1.jpg"], (0, 0), 6)
    assert QualityIssue.BLURRY in _check(detector, blurred)


def test_small_face_says_too_small(
    detector: FaceDetector, portraits: dict[str, npt.NDArray[np.uint8]]
) -> None:
    image = portraits["person01_1.jpg"]
    small = cv2.resize(image, None, fx=0.4, fy=0.4, interpolation=cv2.INTER_AREA)
    canvas = np.full((480, 640, 3), 120, np.uint8)
    canvas[100 : 100 + small.shape[0], 200 : 200 + small.shape[1]] = small
    permissive = FaceDetector(detector.config.model_copy(update={"min_face_px": 30}))
    assert QualityIssue.TOO_SMALL in _check(permissive, canvas)


def test_face_cut_by_the_frame_edge(
    detector: FaceDetector, portraits: dict[str, npt.NDArray[np.uint8]]
) -> None:
    image = portraits["person01_1.jpg"]
    face = detector.detect(image).subject
    assert face is not None
    cut = np.ascontiguousarray(image[:, int(face.center[0]) - 20 :])  # left half of face gone
    issues = _check(detector, cut)
    assert issues and (QualityIssue.PARTIALLY_OUTSIDE in issues or QualityIssue.NO_FACE in issues)


def test_tilted_head(detector: FaceDetector, portraits: dict[str, npt.NDArray[np.uint8]]) -> None:
    image = portraits["person02_1.jpg"]
    h, w = image.shape[:2]
    rotated = cv2.warpAffine(
        image, cv2.getRotationMatrix2D((w / 2, h / 2), 35, 1.0), (w, h),
        borderMode=cv2.BORDER_REFLECT,
    )
    assert QualityIssue.HEAD_TILTED in _check(detector, rotated)


def test_crowd_is_reported(detector: FaceDetector, faces_dir) -> None:  # type: ignore[no-untyped-def]
    from lockers.vision.image_io import load_image

    assert QualityIssue.MULTIPLE_FACES in _check(detector, load_image(faces_dir / "couple.jpg"))


@pytest.mark.parametrize("yaw_sign", [1, -1])
def test_pose_from_landmarks(yaw_sign: int) -> None:
    frontal = estimate_pose(TEMPLATE_160)
    assert abs(frontal.yaw) < 1 and abs(frontal.roll) < 1 and abs(frontal.pitch) < 5
    turned = TEMPLATE_160.copy()
    turned[2, 0] += yaw_sign * 25  # the nose moves sideways when the head turns
    pose = estimate_pose(turned)
    assert np.sign(pose.yaw) == yaw_sign and abs(pose.yaw) > GATE.max_yaw_deg
    mirrored = turned.copy()
    mirrored[:, 0] = 160 - mirrored[:, 0]
    mirrored = mirrored[[1, 0, 2, 4, 3]]
    assert estimate_pose(mirrored).yaw == pytest.approx(-pose.yaw, abs=1e-3)


def test_face_cut_by_a_letterbox_bar_is_partially_outside(
    detector: FaceDetector, portraits: dict[str, npt.NDArray[np.uint8]]
) -> None:
    image = portraits["person01_1.jpg"]
    face = detector.detect(image).subject
    assert face is not None
    assert assess(image, face, GATE).ok
    # The camera's picture starts just below the top of the face (bars above it).
    picture = (0, int(face.box[1]) + 10, image.shape[1], image.shape[0] - int(face.box[1]) - 10)
    report = assess(image, face, GATE, content_box=picture)
    assert QualityIssue.PARTIALLY_OUTSIDE in report.issues
