"""Face embeddings: InceptionResnetV1 (512-d, L2-normalised) on torch eager or ONNX Runtime.

Plain InceptionResnetV1 weights, or the same network with a GroupFace block on top (chosen by
the weights themselves: :func:`build_network`); both give the same kind of embedding.

Both back-ends sit behind the :class:`Embedder` protocol; the kiosk never sees torch. The ONNX
model is exported once from the verified weights, checked against torch (cosine >= 0.9999), and
cached beside the weights under a name keyed by the weights' SHA-256, so a later start loads it
without importing torch at all.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import numpy.typing as npt

from lockers.config import RecognitionConfig
from lockers.errors import WeightsError
from lockers.vision.align import FACE_SIZE, standardise
from lockers.vision.types import EMBEDDING_DIM

if TYPE_CHECKING:
    import torch

    from lockers.vision.modelstore import LoadedWeights

log = logging.getLogger(__name__)

MIN_EXPORT_COSINE = 0.9999
UNTRAINED_VERSION = "untrained-dev"
"""Model version of random weights (development only): never comparable with anything real."""


class Embedder(Protocol):
    """Turns aligned faces into unit-length embeddings."""

    backend: str
    model_version: str

    def embed(self, faces: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
        """``(n, 160, 160, 3)`` uint8 RGB faces → ``(n, 512)`` float32, each row of norm 1."""
        ...


def _check_faces(faces: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    if faces.ndim == 3:
        faces = faces[None]
    if faces.dtype != np.uint8 or faces.shape[1:] != (FACE_SIZE, FACE_SIZE, 3):
        raise ValueError(
            f"faces must be uint8 of shape (n, {FACE_SIZE}, {FACE_SIZE}, 3), "
            f"got {faces.dtype} {faces.shape}"
        )
    return faces


def _renormalise(out: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    # The network already normalises; this makes float error in the last bit irrelevant.
    out = np.asarray(out, dtype=np.float32)
    return out / np.linalg.norm(out, axis=1, keepdims=True)


def build_network(state_dict: Mapping[str, torch.Tensor] | None, seed: int = 0) -> torch.nn.Module:
    """InceptionResnetV1 in eval mode with ``state_dict`` loaded strictly.

    Weights that carry a GroupFace block (``groupface.*``) give the GroupFace network
    (:mod:`lockers.vision.groupface`), whose forward returns the same ``(n, 512)`` normalised
    embedding, so both back-ends treat it like the plain network. ``None`` gives seeded random
    plain weights (development only). facenet-pytorch is never allowed to download: we construct
    with ``pretrained=None`` and load our own verified weights.
    """
    import torch
    from facenet_pytorch import InceptionResnetV1

    from lockers.vision.modelstore import has_groupface_block

    if state_dict is not None and has_groupface_block(state_dict):
        from lockers.vision.groupface import build_groupface_network

        return build_groupface_network(state_dict)
    if state_dict is None:
        torch.manual_seed(seed)
    net = InceptionResnetV1(pretrained=None, classify=False).eval()
    if state_dict is not None:
        net.load_state_dict(state_dict, strict=True)
    return net


class TorchEmbedder:
    """Eager PyTorch back-end (also the reference the ONNX export is checked against)."""

    backend = "torch"

    def __init__(
        self, network: torch.nn.Module, model_version: str, threads: int, batch_size: int = 8
    ) -> None:
        import torch

        torch.set_num_threads(threads)
        self._torch = torch
        self.network = network.eval()
        self.model_version = model_version
        self.batch_size = batch_size

    def embed(self, faces: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
        faces = _check_faces(faces)
        out = np.empty((len(faces), EMBEDDING_DIM), dtype=np.float32)
        with self._torch.inference_mode():
            for start in range(0, len(faces), self.batch_size):
                batch = self._torch.from_numpy(standardise(faces[start : start + self.batch_size]))
                out[start : start + len(batch)] = self.network(batch).numpy()
        return _renormalise(out)


@dataclass(frozen=True)
class OnnxSessionOptions:
    """The ONNX Runtime knobs that matter on a small CPU (``lockers bench`` times them side by
    side). The defaults are the fastest measured on the 2-core kiosk machine."""

    threads: int = 2
    optimization: str = "all"  # disabled | basic | extended | all
    allow_spinning: bool = False
    memory_arena: bool = True

    def label(self) -> str:
        return (
            f"opt={self.optimization} threads={self.threads} "
            f"spin={int(self.allow_spinning)} arena={int(self.memory_arena)}"
        )

    def build(self) -> Any:
        import onnxruntime as ort

        levels = {
            "disabled": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
            "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
            "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
            "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
        }
        options = ort.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = levels[self.optimization]
        options.enable_cpu_mem_arena = self.memory_arena
        # Spinning worker threads steal the CPU from the camera and detector between calls.
        spin = "1" if self.allow_spinning else "0"
        options.add_session_config_entry("session.intra_op.allow_spinning", spin)
        options.add_session_config_entry("session.inter_op.allow_spinning", spin)
        return options


class OnnxEmbedder:
    """ONNX Runtime back-end: about 4x faster than eager torch on a small CPU, same output."""

    backend = "onnx"

    def __init__(
        self,
        onnx_path: Path,
        model_version: str,
        threads: int,
        batch_size: int = 8,
        session: OnnxSessionOptions | None = None,
    ) -> None:
        import onnxruntime as ort

        tuning = session or OnnxSessionOptions(threads=threads)
        options = tuning.build()
        try:
            self._session = ort.InferenceSession(
                str(onnx_path), options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # ORT raises its own untyped errors for bad files
            raise WeightsError(
                f"cannot load the ONNX model {onnx_path}: {exc}",
                hint=f"delete {onnx_path}; it is re-exported from the weights on the next start",
            ) from None
        self._input = self._session.get_inputs()[0].name
        self.model_version = model_version
        self.batch_size = batch_size
        self.path = onnx_path

    def embed(self, faces: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
        faces = _check_faces(faces)
        out = np.empty((len(faces), EMBEDDING_DIM), dtype=np.float32)
        for start in range(0, len(faces), self.batch_size):
            batch = standardise(faces[start : start + self.batch_size])
            out[start : start + len(batch)] = self._session.run(None, {self._input: batch})[0]
        return _renormalise(out)


def onnx_cache_path(weights_path: Path, sha256: str) -> Path:
    """Where the ONNX export of a weights file is cached: beside it, keyed by its SHA-256."""
    return weights_path.with_name(f"{weights_path.stem}.{sha256[:16]}.onnx")


def export_onnx(network: torch.nn.Module, path: Path, threads: int = 2) -> float:
    """Export ``network`` to ``path`` (atomically) and check it against torch.

    Returns:
        The smallest cosine similarity between torch and ONNX Runtime embeddings over a fixed
        batch of test faces.

    Raises:
        WeightsError: the export disagrees with torch (cosine < 0.9999); nothing is left at
            ``path``.
    """
    import torch

    from lockers.vision.onnx_export import export_checked

    def check(exported_path: Path) -> float:
        rng = np.random.default_rng(0)
        faces = rng.integers(0, 256, size=(4, FACE_SIZE, FACE_SIZE, 3), dtype=np.uint8)
        reference = TorchEmbedder(network, "check", threads).embed(faces)
        exported = OnnxEmbedder(exported_path, "check", threads).embed(faces)
        cosine = float(np.min(np.sum(reference * exported, axis=1)))
        if cosine < MIN_EXPORT_COSINE:
            raise WeightsError(
                f"the ONNX export disagrees with torch (cosine {cosine:.6f} < {MIN_EXPORT_COSINE})",
                hint="set recognition.backend: torch, and report the versions of torch and "
                "onnxruntime",
            )
        return cosine

    return export_checked(
        network,
        torch.zeros(2, 3, FACE_SIZE, FACE_SIZE),
        path,
        input_name="faces",
        output_names=["embeddings"],
        dynamic_axes={"faces": {0: "n"}, "embeddings": {0: "n"}},
        check=check,
    )


def create_embedder(
    config: RecognitionConfig,
    weights: LoadedWeights | None,
    cache_dir: Path | None = None,
) -> Embedder:
    """Build the configured back-end from verified weights.

    Args:
        config: backend, threads, batch size.
        weights: verified weights (see :mod:`lockers.vision.modelstore`); ``None`` means random
            weights and is allowed only when ``config.allow_untrained`` is set.
        cache_dir: where the ONNX export of random weights is cached (default: beside the
            configured weights path).

    Raises:
        WeightsError: weights are missing and untrained mode is not allowed, or the export
            fails its check.
    """
    if weights is None and not config.allow_untrained:
        raise WeightsError(
            f"no verified embedding weights at {config.weights}",
            hint="run `lockers models download` (or `lockers models import FILE` offline)",
        )
    if weights is None:
        log.warning("UNTRAINED MODEL: random weights; recognition results mean nothing")
        model_version = UNTRAINED_VERSION
        onnx_path = (cache_dir or config.weights.parent) / f"{UNTRAINED_VERSION}.onnx"
    else:
        model_version = weights.model_version
        onnx_path = onnx_cache_path(weights.path, weights.sha256)

    if config.backend == "onnx" and onnx_path.is_file():
        return OnnxEmbedder(onnx_path, model_version, config.threads, config.batch_size)
    network = build_network(None if weights is None else weights.state_dict)
    if config.backend == "torch":
        return TorchEmbedder(network, model_version, config.threads, config.batch_size)
    cosine = export_onnx(network, onnx_path, config.threads)
    log.info("exported %s (agreement with torch: cosine %.6f)", onnx_path.name, cosine)
    return OnnxEmbedder(onnx_path, model_version, config.threads, config.batch_size)


def load_embedder(config: RecognitionConfig, cache_dir: Path | None = None) -> Embedder:
    """The embedder a kiosk starts with: the lean path when it can, the full check otherwise.

    With the ONNX back-end, weights whose SHA-256 matches their manifest entry (written when
    they were verified) and an ONNX export cached for that SHA-256, the model loads without
    importing torch: about 0.5 s instead of several. Anything else goes through
    :func:`lockers.vision.modelstore.resolve_weights` (full verification, export if needed).

    Raises:
        WeightsError: weights missing, changed or invalid (and untrained mode not allowed).
    """
    from lockers.vision.modelstore import read_manifest, resolve_weights, sha256_of

    weights_path = config.weights
    if config.backend == "onnx" and weights_path.is_file():
        entry = read_manifest(weights_path.parent).get(weights_path.name)
        if entry is not None:
            onnx_path = onnx_cache_path(weights_path, entry.sha256)
            if onnx_path.is_file() and sha256_of(weights_path) == entry.sha256:
                return OnnxEmbedder(
                    onnx_path, entry.model_version, config.threads, config.batch_size
                )
    return create_embedder(config, resolve_weights(config), cache_dir)
