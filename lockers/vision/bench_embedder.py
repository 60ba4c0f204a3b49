"""The embedder's own cost: ONNX Runtime session options side by side, and OpenVINO if present.

Every variant embeds the same aligned faces one at a time (as the kiosk does per frame) and is
compared with the torch fp32 network on those faces: a back-end or option is worth keeping only
when it agrees at cosine >= 0.9999 and is faster.
"""

from __future__ import annotations

import importlib.util
import time
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from lockers.vision.embedder import (
    MIN_EXPORT_COSINE,
    Embedder,
    OnnxEmbedder,
    OnnxSessionOptions,
)

VARIANTS = (
    OnnxSessionOptions(),
    OnnxSessionOptions(threads=1),
    OnnxSessionOptions(allow_spinning=True),
    OnnxSessionOptions(memory_arena=False),
    OnnxSessionOptions(optimization="basic"),
    OnnxSessionOptions(optimization="extended"),
)


def _p50_ms(embedder: Embedder, faces: npt.NDArray[np.uint8], repeats: int) -> float:
    embedder.embed(faces[:1])  # warm-up
    times = []
    for i in range(repeats):
        face = faces[i % len(faces)][None]
        t0 = time.perf_counter()
        embedder.embed(face)
        times.append((time.perf_counter() - t0) * 1e3)
    return round(float(np.median(times)), 2)


def _agreement(reference: npt.NDArray[np.float32] | None, out: npt.NDArray[np.float32]) -> Any:
    if reference is None:
        return None
    return round(float(np.min(np.sum(reference * out, axis=1))), 6)


def bench_embedder_options(
    onnx_path: Path,
    faces: npt.NDArray[np.uint8],
    reference: npt.NDArray[np.float32] | None,
    repeats: int = 20,
) -> dict[str, dict[str, Any]]:
    """p50 ms per face and the lowest cosine against ``reference`` (torch fp32) per variant."""
    results: dict[str, dict[str, Any]] = {}
    for variant in VARIANTS:
        embedder = OnnxEmbedder(onnx_path, "bench", variant.threads, session=variant)
        results[f"onnx {variant.label()}"] = {
            "p50_ms": _p50_ms(embedder, faces, repeats),
            "cosine_vs_torch": _agreement(reference, embedder.embed(faces)),
        }
    openvino = _openvino(onnx_path)
    if openvino is None:
        results["openvino"] = {"note": "not installed (pip install openvino to compare it)"}
    else:
        results["openvino"] = {
            "p50_ms": _p50_ms(openvino, faces, repeats),
            "cosine_vs_torch": _agreement(reference, openvino.embed(faces)),
        }
    for figures in results.values():
        cosine = figures.get("cosine_vs_torch")
        if cosine is not None:
            figures["agrees"] = cosine >= MIN_EXPORT_COSINE
    return results


class _OpenVinoEmbedder:
    """The same ONNX model compiled by OpenVINO's CPU plug-in (measured, not shipped)."""

    backend = "openvino"
    model_version = "bench"

    def __init__(self, onnx_path: Path) -> None:
        import openvino

        core = openvino.Core()
        self._model = core.compile_model(
            str(onnx_path), "CPU", {"INFERENCE_NUM_THREADS": 2, "INFERENCE_PRECISION_HINT": "f32"}
        )

    def embed(self, faces: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
        from lockers.vision.align import standardise

        out = np.asarray(self._model(standardise(faces))[0], np.float32)
        return out / np.linalg.norm(out, axis=1, keepdims=True)


def _openvino(onnx_path: Path) -> _OpenVinoEmbedder | None:
    if importlib.util.find_spec("openvino") is None:
        return None
    return _OpenVinoEmbedder(onnx_path)
