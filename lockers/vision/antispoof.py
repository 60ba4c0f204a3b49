"""Passive anti-spoofing on ONNX Runtime: is the face in front of the camera skin, paper or screen?

Two MiniFASNet models (:mod:`lockers.vision.minifasnet`) look at the subject's face box grown
2.7x (MiniFASNetV2: the face and its edges) and 4.0x (MiniFASNetV1SE: the head in its
surroundings, where paper borders, bezels and reflections show), each resized to 80x80. Each
gives softmax probabilities (print, real, screen); :func:`lockers.vision.pad.fuse` turns a
capture's frames into one decision.

Behind the small :class:`PresentationAttackDetector` protocol, like the embedder. The ONNX
models are exported once from the verified weights, checked against torch (largest absolute
difference of the probabilities <= 1e-4) and cached beside the weights under a name keyed by
the weights' SHA-256, so a later start loads them without importing torch.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np
import numpy.typing as npt

from lockers.errors import WeightsError
from lockers.vision.pad import PadScore

if TYPE_CHECKING:
    from lockers.config import AntiSpoofModelConfig, LivenessSettings
    from lockers.vision.modelstore.antispoof import LoadedAntiSpoof

log = logging.getLogger(__name__)

INPUT_SIZE = 80
MAX_EXPORT_DIFF = 1e-4
Box = tuple[float, float, float, float]


class PresentationAttackDetector(Protocol):
    """Scores the subject of a frame: probabilities (print, real, screen) per model."""

    model_version: str

    def score(self, image: npt.NDArray[np.uint8], box: Box) -> PadScore:
        """``image``: the RGB uint8 frame; ``box``: the subject's (x1, y1, x2, y2)."""
        ...


def crop_face(image: npt.NDArray[np.uint8], box: Box, scale: float) -> npt.NDArray[np.uint8]:
    """The region of ``box`` grown ``scale`` times about its centre (width and height each, so
    it keeps the box's aspect: not squared), shifted (not padded) to stay inside the frame, the
    scale lowered when the frame is too small, resized to 80x80: the published models'
    training crop (checked against the upstream description; the one difference left is the
    face detector: upstream boxes come from a RetinaFace-style detector, ours from MTCNN).

    Returns the crop in BGR channel order: the published models were trained on OpenCV images.
    """
    import cv2

    h, w = image.shape[:2]
    x1, y1, x2, y2 = box
    bw, bh = max(1.0, x2 - x1), max(1.0, y2 - y1)
    scale = min((h - 1) / bh, (w - 1) / bw, scale)
    nw, nh = bw * scale, bh * scale
    cx, cy = x1 + bw / 2, y1 + bh / 2
    left, top = cx - nw / 2, cy - nh / 2
    left = min(max(0.0, left), w - 1 - nw)
    top = min(max(0.0, top), h - 1 - nh)
    region = image[int(top) : int(top + nh) + 1, int(left) : int(left + nw) + 1]
    resized = cv2.resize(region, (INPUT_SIZE, INPUT_SIZE), interpolation=cv2.INTER_LINEAR)
    return np.ascontiguousarray(resized[..., ::-1])


def to_input(crops: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
    """``(n, 80, 80, 3)`` BGR uint8 → ``(n, 3, 80, 80)`` float32 0..255 (no normalisation: the
    models were trained on raw pixel values)."""
    return np.ascontiguousarray(crops.transpose(0, 3, 1, 2), dtype=np.float32)


@dataclass(frozen=True)
class _Model:
    session: object
    input_name: str
    scale: float


class _Runner:
    """One daemon thread that runs the calls it is given, so that a second model runs on the
    second core while the caller's thread runs the first (ONNX Runtime releases the GIL).
    Daemon: it never keeps the process alive and needs no shutdown."""

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[tuple[Callable[[], object], Future[object]]] = (
            queue.SimpleQueue()
        )
        self._thread = threading.Thread(target=self._loop, name="pad-runner", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while True:
            job, future = self._jobs.get()
            try:
                future.set_result(job())
            except BaseException as exc:  # handed to the caller, who re-raises it
                future.set_exception(exc)

    def submit(self, job: Callable[[], object]) -> Future[object]:
        future: Future[object] = Future()
        self._jobs.put((job, future))
        return future


class OnnxAntiSpoof:
    """The anti-spoofing models on ONNX Runtime (CPU), one crop per model per frame.

    With ``parallel`` (and two models) the second model runs on a helper thread at the same
    time as the first: about 1.5x less wall time per frame on two cores.
    """

    backend = "onnx"

    def __init__(
        self,
        models: Sequence[tuple[Path, float]],
        model_version: str,
        threads: int = 1,
        *,
        parallel: bool = True,
    ) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # Spinning threads would steal the CPU from the camera and the detector between calls.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self._models: list[_Model] = []
        for path, scale in models:
            try:
                session = ort.InferenceSession(
                    str(path), options, providers=["CPUExecutionProvider"]
                )
            except Exception as exc:  # ORT raises its own untyped errors for bad files
                raise WeightsError(
                    f"cannot load the ONNX anti-spoofing model {path}: {exc}",
                    hint=f"delete {path}; it is re-exported from the weights on the next start",
                ) from None
            self._models.append(_Model(session, session.get_inputs()[0].name, scale))
        self.model_version = model_version
        self.paths = tuple(path for path, _ in models)
        self._runner = _Runner() if parallel and len(self._models) > 1 else None

    def probabilities(self, index: int, crops: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
        """Model ``index`` on ``(n, 80, 80, 3)`` BGR crops → ``(n, 3)`` probabilities."""
        model = self._models[index]
        out = model.session.run(None, {model.input_name: to_input(crops)})[0]  # type: ignore[attr-defined]
        return np.asarray(out, dtype=np.float32)

    def score(self, image: npt.NDArray[np.uint8], box: Box) -> PadScore:
        def run(i: int) -> npt.NDArray[np.float32]:
            crop = crop_face(image, box, self._models[i].scale)[None]
            return self.probabilities(i, crop)[0]

        indices = range(len(self._models))
        if self._runner is None:
            outputs = [run(i) for i in indices]
        else:
            others = [self._runner.submit(lambda i=i: run(i)) for i in indices[1:]]
            outputs = [run(0), *(np.asarray(f.result()) for f in others)]
        rows = []
        for out in outputs:
            p = np.clip(out.astype(float), 0.0, 1.0)
            p = p / p.sum()
            rows.append((float(p[0]), float(p[1]), float(p[2])))
        return PadScore(tuple(rows))


def onnx_cache_path(weights_path: Path, sha256: str) -> Path:
    """Where the ONNX export of an anti-spoofing file is cached: beside it, keyed by SHA-256."""
    return weights_path.with_name(f"{weights_path.stem}.{sha256[:16]}.onnx")


def export_onnx(loaded: LoadedAntiSpoof, path: Path, threads: int = 1) -> float:
    """Export the verified network (with its softmax) to ``path`` atomically, after checking it.

    Returns:
        The largest absolute difference between torch's and ONNX Runtime's probabilities over a
        fixed batch of crops.

    Raises:
        WeightsError: the export disagrees with torch (> 1e-4); nothing is left at ``path``.
    """
    import torch

    from lockers.vision.minifasnet import build

    class WithSoftmax(torch.nn.Module):
        def __init__(self, net: torch.nn.Module) -> None:
            super().__init__()
            self.net = net

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.softmax(self.net(x), dim=1)

    net = build(loaded.architecture)
    net.load_state_dict(loaded.state_dict, strict=True)
    model = WithSoftmax(net).eval()
    from lockers.vision.onnx_export import export_checked

    def check(exported_path: Path) -> float:
        diff = agreement(model, exported_path, threads)
        if diff > MAX_EXPORT_DIFF:
            raise WeightsError(
                f"the ONNX export of {loaded.path.name} disagrees with torch (largest difference "
                f"{diff:.2e} > {MAX_EXPORT_DIFF:.0e})",
                hint="report the versions of torch and onnxruntime; meanwhile the kiosk cannot "
                "run the passive check (liveness.passive: off, audited)",
            )
        return diff

    return export_checked(
        model,
        torch.zeros(1, 3, INPUT_SIZE, INPUT_SIZE),
        path,
        input_name="crops",
        output_names=["probabilities"],
        dynamic_axes={"crops": {0: "n"}, "probabilities": {0: "n"}},
        check=check,
    )


def agreement(model: object, onnx_path: Path, threads: int = 1) -> float:
    """Largest |torch - ORT| of the probabilities on fixed crops (random and smooth ones)."""
    import torch

    rng = np.random.default_rng(0)
    noisy = rng.integers(0, 256, size=(4, INPUT_SIZE, INPUT_SIZE, 3), dtype=np.uint8)
    ramp = np.linspace(0, 255, INPUT_SIZE, dtype=np.float32)
    smooth = np.stack([np.stack([ramp[None, :].repeat(INPUT_SIZE, 0)] * 3, -1)] * 2)
    crops = np.concatenate([noisy, smooth.astype(np.uint8)])
    with torch.inference_mode():
        reference = model(torch.from_numpy(to_input(crops))).numpy()  # type: ignore[operator]
    served = OnnxAntiSpoof([(onnx_path, 1.0)], "check", threads).probabilities(0, crops)
    return float(np.max(np.abs(reference - served)))


def agreement_of_cached_export(loaded: LoadedAntiSpoof, threads: int = 1) -> float:
    """Export ``loaded`` if its ONNX model is not cached yet, then measure how far the cached
    model is from torch (for ``lockers models verify --anti-spoof``).

    Raises:
        WeightsError: the export disagrees with torch.
    """
    import torch

    from lockers.vision.minifasnet import build

    path = onnx_cache_path(loaded.path, loaded.sha256)
    if not path.is_file():
        return export_onnx(loaded, path, threads)
    net = build(loaded.architecture)
    net.load_state_dict(loaded.state_dict, strict=True)
    model = torch.nn.Sequential(net, torch.nn.Softmax(dim=1)).eval()
    diff = agreement(model, path, threads)
    if diff > MAX_EXPORT_DIFF:
        raise WeightsError(
            f"the cached ONNX model {path} disagrees with torch ({diff:.2e} > "
            f"{MAX_EXPORT_DIFF:.0e})",
            hint=f"delete {path}; it is exported again on the next start",
        )
    return diff


def _version(versions: Sequence[str]) -> str:
    return "+".join(versions)


def load_anti_spoof(liveness: LivenessSettings) -> OnnxAntiSpoof:
    """The detector a kiosk starts with.

    Lean path: every configured file matches its manifest entry (SHA-256 re-hashed: the files
    are small) and has a cached export, so torch is never imported. Otherwise each file is fully
    verified (:func:`lockers.vision.modelstore.antispoof.load_antispoof`) and exported once.

    Raises:
        WeightsError: a file missing, changed or not the architecture, or an export that fails.
    """
    from lockers.vision.modelstore.antispoof import load_antispoof, model_path
    from lockers.vision.modelstore.fetch import sha256_of
    from lockers.vision.modelstore.manifest import read_manifest

    models: list[tuple[Path, float]] = []
    versions: list[str] = []
    for spec in liveness.anti_spoof_models:
        path = model_path(liveness, spec)
        entry = read_manifest(path.parent).get(path.name) if path.is_file() else None
        if entry is not None:
            onnx_path = onnx_cache_path(path, entry.sha256)
            if onnx_path.is_file() and sha256_of(path) == entry.sha256:
                models.append((onnx_path, spec.scale))
                versions.append(entry.model_version)
                continue
        loaded = load_antispoof(path, spec)
        models.append(_export(loaded, spec, liveness.threads))
        versions.append(loaded.model_version)
    return OnnxAntiSpoof(models, _version(versions), liveness.threads)


def _export(
    loaded: LoadedAntiSpoof, spec: AntiSpoofModelConfig, threads: int
) -> tuple[Path, float]:
    onnx_path = onnx_cache_path(loaded.path, loaded.sha256)
    if not onnx_path.is_file():
        diff = export_onnx(loaded, onnx_path, threads)
        log.info("exported %s (agreement with torch: max |diff| %.1e)", onnx_path.name, diff)
    return onnx_path, spec.scale
