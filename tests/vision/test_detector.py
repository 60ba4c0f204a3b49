"""Real MTCNN on real photos: one subject, crowds flagged, nothing on empty frames."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from lockers.config import DetectionConfig
from lockers.errors import ImageError
from lockers.vision.detector import FaceDetector, select_subject
from lockers.vision.image_io import load_image
from lockers.vision.types import DetectedFace


def test_each_portrait_has_exactly_one_subject(
    detector: FaceDetector, portraits: dict[str, npt.NDArray[np.uint8]]
) -> None:
    for name, image in portraits.items():
        found = detector.detect(image)
        assert found.subject is not None, name
        assert not found.multiple_faces, name
        assert found.subject.prob > 0.99, name
        x1, y1, x2, y2 = found.subject.box
        # Landmarks lie inside the face box, eyes above the mouth.
        lm = found.subject.landmarks
        assert np.all((lm[:, 0] > x1) & (lm[:, 0] < x2) & (lm[:, 1] > y1) & (lm[:, 1] < y2))
        assert lm[0, 1] < lm[3, 1] and lm[1, 1] < lm[4, 1]
        assert lm[0, 0] < lm[1, 0]  # left eye is left in the image


def test_couple_is_flagged_as_more_than_one_person(
    detector: FaceDetector, faces_dir: Path
) -> None:
    found = detector.detect(load_image(faces_dir / "couple.jpg"))
    assert len(found.faces) == 2
    assert found.multiple_faces


def test_group_photo_finds_several_faces_and_flags_them(faces_dir: Path) -> None:
    small_faces = FaceDetector(DetectionConfig(min_face_px=30, detect_max_side_px=0))
    found = small_faces.detect(load_image(faces_dir / "multiface.jpg"))
    assert len(found.faces) >= 5
    assert found.multiple_faces


@pytest.mark.parametrize("kind", ["black", "grey", "noise"])
def test_no_face_on_blank_or_noise(detector: FaceDetector, kind: str) -> None:
    rng = np.random.default_rng(1)
    frames = {
        "black": np.zeros((480, 640, 3), np.uint8),
        "grey": np.full((480, 640, 3), 128, np.uint8),
        "noise": rng.integers(0, 256, (480, 640, 3), dtype=np.uint8),
    }
    found = detector.detect(frames[kind])
    assert found.subject is None and found.faces == () and not found.multiple_faces


def test_downscaled_detection_maps_back_to_frame_coordinates(
    portraits: dict[str, npt.NDArray[np.uint8]],
) -> None:
    image = portraits["person01_1.jpg"]
    full = FaceDetector(DetectionConfig(detect_max_side_px=0)).detect(image).subject
    fast = FaceDetector(DetectionConfig(detect_max_side_px=200)).detect(image).subject
    assert full is not None and fast is not None
    assert np.allclose(full.box, fast.box, atol=0.08 * full.width)
    assert np.allclose(full.landmarks, fast.landmarks, atol=0.05 * full.width)


def test_corrupt_and_truncated_images_give_clear_errors(tmp_path: Path, faces_dir: Path) -> None:
    data = (faces_dir / "person01_1.jpg").read_bytes()
    truncated = tmp_path / "truncated.jpg"
    truncated.write_bytes(data[: len(data) // 2])
    garbage = tmp_path / "garbage.jpg"
    garbage.write_bytes(b"this is not an image" * 10)
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    for path, words in [
        (truncated, "truncated"),
        (garbage, "could not be decoded"),
        (empty, "empty"),
        (tmp_path / "missing.jpg", "does not exist"),
    ]:
        with pytest.raises(ImageError) as info:
            load_image(path)
        assert words in info.value.message and str(path) in info.value.message


def test_bad_frame_types_are_refused(detector: FaceDetector) -> None:
    with pytest.raises(ValueError, match="uint8"):
        detector.detect(np.zeros((48, 64, 3), np.float32))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"\(H, W, 3\)"):
        detector.detect(np.zeros((48, 64), np.uint8))


def _face(x: float, y: float, size: float) -> DetectedFace:
    lm = np.array([[x + 0.3 * size, y + 0.4 * size]] * 5, np.float32)
    return DetectedFace((x, y, x + size, y + size), 0.99, lm)


def test_subject_is_the_large_central_face_and_small_background_faces_do_not_count() -> None:
    near = _face(270, 190, 100)
    far = _face(10, 10, 30)  # a passer-by in the background
    result = select_subject([far, near], (640, 480), crowd_min_relative_size=0.5)
    assert result.subject is near
    assert not result.multiple_faces
    beside = _face(450, 190, 80)
    result = select_subject([beside, far, near], (640, 480), crowd_min_relative_size=0.5)
    assert result.subject is near and result.multiple_faces
