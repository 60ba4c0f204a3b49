"""Real MTCNN and real photos for the vision tests (built once per session: loading is slow)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from lockers.config import DetectionConfig
from lockers.vision.detector import FaceDetector
from lockers.vision.image_io import load_image

FACES = Path(__file__).resolve().parents[1] / "fixtures" / "faces"
PORTRAITS = ["person01_1.jpg", "person01_2.jpg", "person02_1.jpg", "person03_1.jpg"]


@pytest.fixture(scope="session")
def detector() -> FaceDetector:
    return FaceDetector(DetectionConfig())


@pytest.fixture(scope="session")
def portraits() -> dict[str, npt.NDArray[np.uint8]]:
    return {name: load_image(FACES / name) for name in PORTRAITS}


@pytest.fixture(scope="session")
def faces_dir() -> Path:
    return FACES
