"""The passive anti-spoofing cost per frame, for ``lockers bench`` (kept apart from
:mod:`lockers.vision.bench` so either can change alone).

Times :meth:`OnnxAntiSpoof.score` (both crops, both models) on the subject of real frames.
Without verified anti-spoofing weights it runs on random MiniFASNet weights exported to a
temporary folder (loudly labelled): the timings do not depend on the weight values.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from lockers.config import Settings
from lockers.vision.antispoof import OnnxAntiSpoof, load_anti_spoof
from lockers.vision.detector import FaceDetector

Box = tuple[float, float, float, float]


def _random_models(settings: Settings, directory: Path) -> OnnxAntiSpoof:
    import torch

    from lockers.vision.antispoof import export_onnx
    from lockers.vision.minifasnet import build
    from lockers.vision.modelstore.antispoof import LoadedAntiSpoof

    models = []
    torch.manual_seed(0)
    for spec in settings.liveness.anti_spoof_models:
        net = build(spec.architecture)
        loaded = LoadedAntiSpoof(
            net.state_dict(),
            "0" * 64,
            "random",
            directory / spec.file,
            spec.architecture,
            spec.scale,
        )
        path = directory / f"{Path(spec.file).stem}.onnx"
        export_onnx(loaded, path, settings.liveness.threads)
        models.append((path, spec.scale))
    return OnnxAntiSpoof(models, "random", settings.liveness.threads)


def bench_pad(
    settings: Settings, frames: list[npt.NDArray[np.uint8]], repeats: int = 3
) -> dict[str, Any]:
    """p50/p95 milliseconds of one frame's PAD score (both models), over ``frames`` that show a
    face, ``repeats`` times each."""
    from lockers.vision.modelstore.antispoof import verified_files

    detector = FaceDetector(
        settings.detection,
        threads=settings.recognition.threads,
        cache_dir=settings.recognition.weights.parent,
    )
    faces: list[tuple[npt.NDArray[np.uint8], Box]] = []
    for image in frames:
        subject = detector.detect(image).subject
        if subject is not None:
            faces.append((image, subject.box))
    with tempfile.TemporaryDirectory(prefix="lockers-pad-bench-") as tmp:
        real = not verified_files(settings.liveness)
        pad = load_anti_spoof(settings.liveness) if real else _random_models(settings, Path(tmp))
        times: list[float] = []
        if faces:
            pad.score(*faces[0])  # warm-up
            for _ in range(repeats):
                for image, box in faces:
                    t0 = time.perf_counter()
                    pad.score(image, box)
                    times.append((time.perf_counter() - t0) * 1e3)
    values = np.asarray(times) if times else np.asarray([float("nan")])
    return {
        "pad_ms_p50": round(float(np.percentile(values, 50)), 2),
        "pad_ms_p95": round(float(np.percentile(values, 95)), 2),
        "frames": len(times),
        "threads": settings.liveness.threads,
        "models": pad.model_version,
        "weights_note": "verified anti-spoofing weights"
        if real
        else "RANDOM weights (none verified)",
    }
