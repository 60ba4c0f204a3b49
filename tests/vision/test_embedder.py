"""The embedder: shape, norm, determinism, torch vs ONNX agreement, the cached lean start."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from weights_fixtures import session_weights_file

from lockers.config import RecognitionConfig
from lockers.errors import WeightsError
from lockers.vision.align import align_face
from lockers.vision.detector import FaceDetector
from lockers.vision.embedder import (
    MIN_EXPORT_COSINE,
    UNTRAINED_VERSION,
    OnnxEmbedder,
    TorchEmbedder,
    create_embedder,
    load_embedder,
    onnx_cache_path,
)
from lockers.vision.weights import import_weights, load_weights


@pytest.fixture(scope="module")
def weights_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A models/ folder holding imported (verified, manifest-recorded) random weights."""
    directory = tmp_path_factory.mktemp("models")
    import_weights(session_weights_file(tmp_path_factory), directory / "irv1.pt")
    return directory


@pytest.fixture(scope="module")
def config(weights_dir: Path) -> RecognitionConfig:
    return RecognitionConfig(weights=weights_dir / "irv1.pt", threads=2)


@pytest.fixture(scope="module")
def aligned_faces(
    detector: FaceDetector, portraits: dict[str, npt.NDArray[np.uint8]]
) -> npt.NDArray[np.uint8]:
    faces = []
    for image in portraits.values():
        face = detector.detect(image).subject
        assert face is not None
        faces.append(align_face(image, face))
    return np.stack(faces)


@pytest.fixture(scope="module")
def torch_embedder(config: RecognitionConfig) -> TorchEmbedder:
    torch_config = config.model_copy(update={"backend": "torch"})
    embedder = create_embedder(torch_config, load_weights(config.weights))
    assert isinstance(embedder, TorchEmbedder)
    return embedder


@pytest.fixture(scope="module")
def onnx_embedder(config: RecognitionConfig) -> OnnxEmbedder:
    embedder = create_embedder(config, load_weights(config.weights))  # exports and checks
    assert isinstance(embedder, OnnxEmbedder)
    return embedder


def test_shape_norm_and_determinism(
    torch_embedder: TorchEmbedder, aligned_faces: npt.NDArray[np.uint8]
) -> None:
    out = torch_embedder.embed(aligned_faces)
    assert out.shape == (len(aligned_faces), 512) and out.dtype == np.float32
    assert np.allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)
    assert np.array_equal(out, torch_embedder.embed(aligned_faces))
    one_by_one = np.concatenate([torch_embedder.embed(f[None]) for f in aligned_faces])
    assert np.allclose(out, one_by_one, atol=1e-5)  # batching does not change results


def test_onnx_agrees_with_torch_on_real_faces(
    torch_embedder: TorchEmbedder,
    onnx_embedder: OnnxEmbedder,
    aligned_faces: npt.NDArray[np.uint8],
) -> None:
    cosine = np.sum(torch_embedder.embed(aligned_faces) * onnx_embedder.embed(aligned_faces), 1)
    assert cosine.min() >= MIN_EXPORT_COSINE
    assert onnx_embedder.model_version == torch_embedder.model_version


def test_onnx_export_is_cached_beside_the_weights_by_sha(
    config: RecognitionConfig, onnx_embedder: OnnxEmbedder
) -> None:
    loaded = load_weights(config.weights)
    cached = onnx_cache_path(config.weights, loaded.sha256)
    assert onnx_embedder.path == cached and cached.is_file()
    mtime = cached.stat().st_mtime_ns
    again = create_embedder(config, loaded)
    assert isinstance(again, OnnxEmbedder) and cached.stat().st_mtime_ns == mtime


def test_lean_start_loads_the_cached_onnx_without_torch(
    config: RecognitionConfig, onnx_embedder: OnnxEmbedder
) -> None:
    code = (
        "import sys, numpy as np\n"
        "from pathlib import Path\n"
        "from lockers.config import RecognitionConfig\n"
        "from lockers.vision.embedder import load_embedder\n"
        f"e = load_embedder(RecognitionConfig(weights=Path({str(config.weights)!r})))\n"
        "out = e.embed(np.zeros((1, 160, 160, 3), np.uint8))\n"
        "print(e.backend, e.model_version, out.shape, 'torch' in sys.modules)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    backend, version, *_rest, torch_loaded = result.stdout.split()
    assert backend == "onnx" and version == onnx_embedder.model_version
    assert torch_loaded == "False"


def test_lean_start_refuses_weights_changed_since_verification(
    tmp_path: Path, config: RecognitionConfig, onnx_embedder: OnnxEmbedder
) -> None:
    import shutil

    models = tmp_path / "models"
    shutil.copytree(config.weights.parent, models)
    weights = models / config.weights.name
    with weights.open("r+b") as f:  # flip bytes in the middle: same size, different content
        f.seek(weights.stat().st_size // 2)
        f.write(b"\x00\x01\x02\x03")
    with pytest.raises(WeightsError, match="changed since it was verified"):
        load_embedder(config.model_copy(update={"weights": weights}))


def test_missing_weights_stop_the_program_unless_untrained_is_allowed(tmp_path: Path) -> None:
    missing = RecognitionConfig(weights=tmp_path / "none.pt")
    with pytest.raises(WeightsError) as info:
        load_embedder(missing)
    assert "lockers models download" in info.value.hint
    dev = missing.model_copy(update={"allow_untrained": True, "backend": "torch"})
    embedder = load_embedder(dev)
    assert embedder.model_version == UNTRAINED_VERSION


def test_bad_face_arrays_are_refused(torch_embedder: TorchEmbedder) -> None:
    with pytest.raises(ValueError, match="uint8 of shape"):
        torch_embedder.embed(np.zeros((1, 112, 112, 3), np.uint8))
