"""The whole pipeline on real photos and on the real sample video, with the real embedder."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from lockers.config import CameraConfig, QualityConfig, RecognitionConfig
from lockers.vision.camera import open_source
from lockers.vision.detector import FaceDetector
from lockers.vision.embedder import load_embedder
from lockers.vision.image_io import load_image
from lockers.vision.pipeline import FacePipeline
from lockers.vision.quality import QualityIssue

SAMPLE = Path(__file__).resolve().parents[2] / "lockers" / "demo" / "sample_faces.mp4"


@pytest.fixture(scope="module")
def pipeline(detector: FaceDetector, tmp_path_factory: pytest.TempPathFactory) -> FacePipeline:
    models = tmp_path_factory.mktemp("models")
    config = RecognitionConfig(weights=models / "none.pt", allow_untrained=True)
    return FacePipeline(detector, QualityConfig(), load_embedder(config))


def test_a_good_portrait_gives_one_embedding(
    pipeline: FacePipeline, portraits: dict[str, npt.NDArray[np.uint8]]
) -> None:
    analysis = pipeline.analyse(portraits["person01_1.jpg"])
    assert analysis.usable and analysis.quality.ok
    assert analysis.aligned is not None and analysis.aligned.shape == (160, 160, 3)
    assert analysis.embedding is not None and analysis.embedding.shape == (512,)
    assert analysis.times.detect_ms > 0 and analysis.times.embed_ms > 0


def test_a_crowded_frame_is_neither_aligned_nor_embedded(
    pipeline: FacePipeline, faces_dir: Path
) -> None:
    analysis = pipeline.analyse(load_image(faces_dir / "couple.jpg"))
    assert analysis.multiple_faces
    assert QualityIssue.MULTIPLE_FACES in analysis.quality.issues
    assert analysis.embedding is None and analysis.aligned is None and not analysis.usable


def test_embedding_can_be_skipped(
    pipeline: FacePipeline, portraits: dict[str, npt.NDArray[np.uint8]]
) -> None:
    analysis = pipeline.analyse(portraits["person02_1.jpg"], embed=False)
    assert analysis.aligned is not None and analysis.embedding is None


def test_the_sample_video_replays_into_usable_faces(pipeline: FacePipeline) -> None:
    config = CameraConfig(source=str(SAMPLE), loop=False)
    usable = frames = 0
    with open_source(config) as camera:
        while (frame := camera.read()) is not None and frames < 80:
            frames += 1
            if frames % 8 == 0:
                usable += pipeline.analyse(frame.image, embed=False).usable
    assert frames == 80
    assert usable >= 8  # every sampled frame holds one clear face
