"""Alignment puts the eyes where the template says, on real faces and on exact geometry."""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from lockers.vision.align import (
    FACE_SIZE,
    LANDMARK_WEIGHTS,
    TEMPLATE_160,
    align_face,
    similarity_transform,
    standardise,
)
from lockers.vision.detector import FaceDetector
from lockers.vision.types import DetectedFace


def _apply(matrix: npt.NDArray[np.float64], points: npt.NDArray[np.float32]) -> npt.NDArray:
    return points @ matrix[:, :2].T + matrix[:, 2]


@pytest.mark.parametrize(("angle", "scale", "shift"), [(0, 1, (0, 0)), (25, 2.3, (300, 80)),
                                                        (-40, 0.7, (12, 400))])
def test_umeyama_recovers_an_exact_similarity(angle: float, scale: float, shift: tuple) -> None:
    rad = np.radians(angle)
    rot = scale * np.array([[np.cos(rad), -np.sin(rad)], [np.sin(rad), np.cos(rad)]])
    src = (TEMPLATE_160 @ rot.T + np.array(shift)).astype(np.float32)
    matrix = similarity_transform(src, TEMPLATE_160)
    assert np.allclose(_apply(matrix, src), TEMPLATE_160, atol=1e-3)


def test_degenerate_landmarks_are_refused() -> None:
    with pytest.raises(ValueError, match="degenerate"):
        similarity_transform(np.ones((5, 2), np.float32), TEMPLATE_160)


def test_eyes_land_within_2px_of_the_template_on_real_faces(
    detector: FaceDetector, portraits: dict[str, npt.NDArray[np.uint8]]
) -> None:
    for name, image in portraits.items():
        face = detector.detect(image).subject
        assert face is not None
        aligned = align_face(image, face, "aligned")
        assert aligned.shape == (FACE_SIZE, FACE_SIZE, 3) and aligned.dtype == np.uint8
        matrix = similarity_transform(face.landmarks, TEMPLATE_160, LANDMARK_WEIGHTS)
        eyes = _apply(matrix, face.landmarks[:2])
        error = np.linalg.norm(eyes - TEMPLATE_160[:2], axis=1)
        assert error.max() < 2.0, (name, error)


def test_a_tilted_head_comes_out_level(
    detector: FaceDetector, portraits: dict[str, npt.NDArray[np.uint8]]
) -> None:
    image = portraits["person01_1.jpg"]
    h, w = image.shape[:2]
    rotated = cv2.warpAffine(
        image, cv2.getRotationMatrix2D((w / 2, h / 2), 25, 1.0), (w, h),
        borderMode=cv2.BORDER_REFLECT,
    )
    face = detector.detect(rotated).subject
    assert face is not None
    eye_dy = face.landmarks[1, 1] - face.landmarks[0, 1]
    assert abs(eye_dy) > 0.2 * (face.landmarks[1, 0] - face.landmarks[0, 0])  # really tilted
    aligned = align_face(rotated, face, "aligned")
    again = FaceDetector(detector.config.model_copy(update={"min_face_px": 40})).detect(
        np.ascontiguousarray(cv2.copyMakeBorder(aligned, 40, 40, 40, 40, cv2.BORDER_REPLICATE))
    ).subject
    assert again is not None
    eyes = again.landmarks[:2] - 40
    assert np.linalg.norm(eyes - TEMPLATE_160[:2], axis=1).max() < 4.0  # MTCNN's own jitter


def test_crop_mode_is_the_box_resized() -> None:
    image = np.zeros((100, 200, 3), np.uint8)
    image[20:60, 50:90] = 255  # a white square exactly where the box is
    lm = np.array([[60, 30], [80, 30], [70, 40], [60, 50], [80, 50]], np.float32)
    face = DetectedFace((50.0, 20.0, 90.0, 60.0), 0.99, lm)
    crop = align_face(image, face, "crop")
    assert crop.shape == (160, 160, 3)
    assert crop[2:-2, 2:-2].min() == 255


def test_standardise_matches_facenet_pytorch() -> None:
    import torch
    from facenet_pytorch import fixed_image_standardization

    faces = np.random.default_rng(0).integers(0, 256, (2, 160, 160, 3), dtype=np.uint8)
    ours = standardise(faces)
    theirs = fixed_image_standardization(torch.from_numpy(faces).permute(0, 3, 1, 2).float())
    assert ours.shape == (2, 3, 160, 160) and ours.dtype == np.float32
    assert np.allclose(ours, theirs.numpy())
