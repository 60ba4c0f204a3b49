"""Track, then detect: the tracked path agrees with the full cascade and still sees a 2nd face."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from bench_videos import SHARED_FACES, video_maker

from lockers.config import CameraConfig, DetectionConfig
from lockers.vision.camera import open_source
from lockers.vision.detector import FaceDetector
from lockers.vision.image_io import load_image
from lockers.vision.tracking import FaceTracker, iou

pytestmark = pytest.mark.skipif(not SHARED_FACES.is_dir(), reason="needs ../shared/faces")


def _frames(path: Path, count: int) -> list[npt.NDArray[np.uint8]]:
    images = []
    with open_source(CameraConfig(source=str(path), width=640, height=480, loop=False)) as cam:
        while len(images) < count and (frame := cam.read()) is not None:
            images.append(frame.image)
    return images


@pytest.fixture(scope="module")
def moving(tmp_path_factory: pytest.TempPathFactory) -> list[npt.NDArray[np.uint8]]:
    out = tmp_path_factory.mktemp("bench") / "moving-face.mp4"
    return _frames(video_maker().make_moving_face(SHARED_FACES, out, frames=40), 40)


def _agreement(
    detector: FaceDetector, tracker: FaceTracker, images: list[npt.NDArray[np.uint8]]
) -> tuple[list[float], list[float]]:
    ious, landmark_px = [], []
    for i, image in enumerate(images):
        tracked = tracker.detect(image, i)
        if tracker.last_step.mode != "tracked":
            continue
        full = detector.detect(image)
        assert full.subject is not None and tracked.subject is not None
        ious.append(iou(full.subject.box, tracked.subject.box))
        landmark_px.append(float(np.abs(full.subject.landmarks - tracked.subject.landmarks).max()))
    return ious, landmark_px


def test_tracked_boxes_and_landmarks_agree_with_the_full_cascade_on_moving_video(
    moving: list[npt.NDArray[np.uint8]],
) -> None:
    config = DetectionConfig()
    detector = FaceDetector(config)
    ious, landmark_px = _agreement(detector, FaceTracker(detector, config), moving)
    assert len(ious) >= 30  # most frames were tracked, not detected
    # Detection runs at half the frame size: 2 px of the detector's input are 4 frame px.
    scale = 640 / config.detect_max_side_px
    assert min(ious) >= 0.85 and float(np.median(ious)) >= 0.9
    # The full cascade disagrees with itself by 2.7 frame px (median) on the same frame shifted
    # by 2 px; the tracked path stays within that noise: median under 2 detector px.
    assert float(np.median(landmark_px)) <= 2 * scale
    assert float(np.percentile(landmark_px, 95)) <= 2.5 * scale


@pytest.mark.parametrize("name", ["person01_1.jpg", "person01_2.jpg", "person02_1.jpg",
                                  "person03_1.jpg"])
def test_tracked_path_agrees_on_portraits(name: str, faces_dir: Path) -> None:
    config = DetectionConfig(min_face_px=40)
    detector = FaceDetector(config)
    image = load_image(faces_dir / name)
    ious, landmark_px = _agreement(detector, FaceTracker(detector, config), [image] * 4)
    assert len(ious) == 3
    assert min(ious) >= 0.85 and float(np.median(ious)) >= 0.9
    scale = max(image.shape[:2]) / config.detect_max_side_px
    assert max(landmark_px) <= 2 * scale


@pytest.mark.parametrize("scene", ["couple.jpg", "multiface.jpg"])
def test_group_scenes_stay_crowded_while_tracked(scene: str, faces_dir: Path) -> None:
    config = DetectionConfig(min_face_px=30)
    detector = FaceDetector(config)
    tracker = FaceTracker(detector, config)
    image = load_image(faces_dir / scene)
    steps = []
    for i in range(6):
        detections = tracker.detect(image, i)
        steps.append(tracker.last_step.mode)
        assert detections.multiple_faces, (i, tracker.last_step)
    assert "tracked" in steps


def test_a_second_face_entering_sets_multiple_faces_within_the_redetect_interval(
    tmp_path: Path,
) -> None:
    enters_at = 20
    out = video_maker().make_moving_face(
        SHARED_FACES, tmp_path / "second.mp4", frames=50, second_enters_at=enters_at
    )
    images = _frames(out, 50)
    config = DetectionConfig(redetect_every_frames=8)
    detector = FaceDetector(config)
    tracker = FaceTracker(detector, config)
    crowded_full = [detector.detect(image).multiple_faces for image in images]
    seen_by_full = crowded_full.index(True)  # when the full cascade first sees the second face
    assert seen_by_full >= enters_at
    crowded_tracked = [tracker.detect(image, i).multiple_faces for i, image in enumerate(images)]
    assert not any(crowded_tracked[:enters_at])
    first = crowded_tracked.index(True)
    assert first - seen_by_full < config.redetect_every_frames
    # Once seen, the second face is tracked too: no frame after that lets a decision through.
    assert all(crowded_tracked[first:]) or all(crowded_full[first:]) is False


def test_jumps_and_stills_get_a_full_detection(faces_dir: Path) -> None:
    config = DetectionConfig()
    detector = FaceDetector(config)
    tracker = FaceTracker(detector, config)
    image = load_image(faces_dir / "person01_1.jpg")
    tracker.detect(image, 0)
    tracker.detect(image, 1)
    assert tracker.last_step.mode == "tracked"
    tracker.detect(image, 5)
    assert tracker.last_step.reason == "gap"
    tracker.detect(image, None)
    assert tracker.last_step.mode == "full"
