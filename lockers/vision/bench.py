"""The pipeline benchmark behind ``lockers bench``: per-stage latency, the facenet-pytorch
default on the same frames, matching at gallery scale, start-up time and peak memory.

Figures, not pass/fail: targets are checked by reading them (README, issue notes).
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from lockers.config import CameraConfig, RecognitionConfig, Settings
from lockers.vision.embedder import UNTRAINED_VERSION, Embedder, OnnxEmbedder, load_embedder
from lockers.vision.matcher import FaceMatcher
from lockers.vision.pipeline import Analysis, FacePipeline
from lockers.vision.types import EMBEDDING_DIM

SAMPLE_VIDEO = Path(__file__).resolve().parents[1] / "demo" / "sample_faces.mp4"
GALLERY_SIZES = (100, 10_000, 100_000)
END_TO_END_GALLERY = 10_000


@dataclass
class BenchOptions:
    """What to replay and how much."""

    source: Path = SAMPLE_VIDEO
    frames: int = 60
    warmup: int = 5
    skip_default: bool = False
    embedder_options: bool = True  # time ONNX Runtime session options (and OpenVINO) too


def _stats(values: list[float]) -> dict[str, float | None]:
    # No sample gives null (JSON) and n = 0, never NaN: "no frame had a face" is a fact to print.
    if not values:
        return {"p50": None, "p95": None, "n": 0}
    arr = np.asarray(values)
    return {
        "p50": round(float(np.percentile(arr, 50)), 2),
        "p95": round(float(np.percentile(arr, 95)), 2),
        "n": len(values),
    }


def read_frames(
    source: Path, count: int
) -> tuple[list[npt.NDArray[np.uint8]], list[float], list[int]]:
    """Decode ``count`` frames letterboxed to 640x480 (looping a short source), with their
    decode times and the source's frame indices (a looped source's indices keep counting)."""
    from lockers.vision.camera import open_source

    config = CameraConfig(source=str(source), width=640, height=480, loop=True)
    frames: list[npt.NDArray[np.uint8]] = []
    decode_ms: list[float] = []
    indices: list[int] = []
    with open_source(config) as camera:
        while len(frames) < count:
            t0 = time.perf_counter()
            frame = camera.read()
            decode_ms.append((time.perf_counter() - t0) * 1e3)
            if frame is None:
                break
            frames.append(frame.image)
            indices.append(frame.index)
    return frames, decode_ms, indices


def synthetic_gallery(size: int, dim: int = EMBEDDING_DIM, seed: int = 0) -> FaceMatcher:
    """A matcher holding ``size`` random unit templates (one identity each)."""
    rng = np.random.default_rng(seed)
    matcher = FaceMatcher(threshold=0.55, margin=0.08, dim=dim)
    templates = rng.standard_normal((size, dim)).astype(np.float32)
    matcher.add_many(range(size), templates)
    if size >= matcher.index_min_rows:
        matcher.prepare_index()  # as a long-lived kiosk gallery would have it
    return matcher


def _time(fn: Callable[[], Any]) -> float:
    t0 = time.perf_counter()
    fn()
    return (time.perf_counter() - t0) * 1e3


STAGES = ("detect", "quality", "align", "embed", "end_to_end", "idle_frame")


@dataclass
class _Figures:
    """What the frame loop measured (milliseconds), warm-up frames left out."""

    stages: dict[str, list[float]] = field(default_factory=lambda: {k: [] for k in STAGES})
    detect_by_mode: dict[str, list[float]] = field(
        default_factory=lambda: {"full": [], "tracked": []}
    )
    match_ms: dict[int, list[float]] = field(default_factory=lambda: {n: [] for n in GALLERY_SIZES})
    faces_seen: int = 0
    refused: dict[str, int] = field(default_factory=dict)
    aligned_faces: list[npt.NDArray[np.uint8]] = field(default_factory=list)

    def record(self, analysis: Analysis, total_ms: float) -> None:
        """One measured frame's stage times (``total_ms``: decode to identified)."""
        times = analysis.times
        self.stages["detect"].append(times.detect_ms)
        self.stages["quality"].append(times.quality_ms)
        self.detect_by_mode["tracked" if analysis.tracked else "full"].append(times.detect_ms)
        if analysis.subject is None:
            # A kiosk idles most of the day: what a frame without anyone in it costs.
            self.stages["idle_frame"].append(total_ms)
        if analysis.aligned is not None and len(self.aligned_faces) < 8:
            self.aligned_faces.append(analysis.aligned)
        if analysis.embedding is not None:
            self.faces_seen += 1
            self.stages["align"].append(times.align_ms)
            self.stages["embed"].append(times.embed_ms)
            self.stages["end_to_end"].append(total_ms)
        else:
            for reason in refusal_reasons(analysis):
                self.refused[reason] = self.refused.get(reason, 0) + 1


def _measure_frames(
    pipeline: FacePipeline,
    frames: list[npt.NDArray[np.uint8]],
    decode_ms: list[float],
    indices: list[int],
    warmup: int,
) -> _Figures:
    """Analyse every frame as the kiosk would and match it against each gallery size."""
    galleries = {n: synthetic_gallery(n) for n in GALLERY_SIZES}
    rng = np.random.default_rng(1)
    figures = _Figures()
    for i, image in enumerate(frames):
        t0 = time.perf_counter()
        analysis = pipeline.analyse(image, frame_index=indices[i])
        probe = analysis.embedding
        if probe is not None:
            galleries[END_TO_END_GALLERY].identify(probe)
        total = (time.perf_counter() - t0) * 1e3 + decode_ms[i]
        if i < warmup:
            continue
        figures.record(analysis, total)
        query = probe if probe is not None else rng.standard_normal(EMBEDDING_DIM)
        query = query.astype(np.float32)
        for n, gallery in galleries.items():
            figures.match_ms[n].append(_time(lambda g=gallery, q=query: g.identify(q)))
    return figures


def run_bench(settings: Settings, options: BenchOptions) -> dict[str, Any]:
    """Run the benchmark and return its figures (milliseconds unless named otherwise)."""
    recognition = settings.recognition.model_copy(update={"allow_untrained": True})
    # Loading first also writes the ONNX caches, so start-up is measured on a warm disk.
    embedder = load_embedder(recognition)
    pipeline = FacePipeline.from_settings(settings, embedder)
    startup = measure_startup(settings)
    frames, decode_ms, indices = read_frames(options.source, options.frames + options.warmup)
    if not frames:
        raise ValueError(f"{options.source} gave no frames")
    warmup = min(options.warmup, len(frames) - 1)
    figures = _measure_frames(pipeline, frames, decode_ms, indices, warmup)
    result: dict[str, Any] = {
        "source": str(options.source),
        "frame_size": [640, 480],
        "frames": len(frames) - warmup,
        "frames_with_usable_face": figures.faces_seen,
        "frames_refused": dict(sorted(figures.refused.items())),
        "tracking": {
            "enabled": settings.detection.track,
            "redetect_every_frames": settings.detection.redetect_every_frames,
            "full_detect": _stats(figures.detect_by_mode["full"]),
            "tracked_detect": _stats(figures.detect_by_mode["tracked"]),
        },
        "backend": embedder.backend,
        "model_version": embedder.model_version,
        "weights_note": "untrained weights: timings only"
        if embedder.model_version == UNTRAINED_VERSION
        else "verified weights",
        "threads": recognition.threads,
        "detect_max_side_px": settings.detection.detect_max_side_px,
        "ours": {
            "decode": _stats(decode_ms[warmup:]),
            **{k: _stats(v) for k, v in figures.stages.items()},
            **{f"match_{n}": _stats(v) for n, v in figures.match_ms.items()},
        },
        "startup": startup,
    }
    result["end_to_end_p50_ms"] = result["ours"]["end_to_end"]["p50"]
    result["idle_frame_p50_ms"] = result["ours"]["idle_frame"]["p50"]
    if not options.skip_default:
        gallery = synthetic_gallery(END_TO_END_GALLERY)
        _compare_with_default(result, _bench_default(frames, decode_ms, warmup, gallery))
    if options.embedder_options and figures.aligned_faces and isinstance(embedder, OnnxEmbedder):
        from lockers.vision.bench_embedder import bench_embedder_options

        faces = np.stack(figures.aligned_faces)
        result["embedder_options"] = bench_embedder_options(
            embedder.path, faces, _torch_reference(recognition, embedder, faces)
        )
    result["peak_rss_mb_bench_process"] = _peak_rss_mb()
    return result


def _compare_with_default(result: dict[str, Any], default: dict[str, Any]) -> None:
    """Add the facenet-pytorch default's figures and the speed-up over it to ``result``."""
    ours_e2e = result["end_to_end_p50_ms"]
    result["default"] = default
    theirs = default["end_to_end"]["p50"]
    result["default_end_to_end_p50_ms"] = theirs
    # Only a ratio of two measured figures; null (and a note) when either side saw no face.
    result["speedup_vs_default"] = (
        round(theirs / ours_e2e, 2) if theirs is not None and ours_e2e else None
    )
    if result["speedup_vs_default"] is None:
        result["speedup_note"] = (
            "not measured: no frame had a usable face in "
            + ("both pipelines" if theirs is None and ours_e2e is None else
               "ours" if ours_e2e is None else "the default pipeline")
        )  # fmt: skip


def _bench_default(
    frames: list[npt.NDArray[np.uint8]],
    decode_ms: list[float],
    warmup: int,
    gallery: FaceMatcher,
) -> dict[str, Any]:
    """The plain facenet-pytorch way: ``MTCNN()`` crops the face, eager InceptionResnetV1."""
    import torch
    from facenet_pytorch import MTCNN, InceptionResnetV1

    mtcnn = MTCNN()
    network = InceptionResnetV1(pretrained=None).eval()
    stages: dict[str, list[float]] = {"detect": [], "embed": [], "end_to_end": [], "idle_frame": []}
    for i, image in enumerate(frames):
        t0 = time.perf_counter()
        face = mtcnn(image)
        t1 = time.perf_counter()
        if face is None:
            if i >= warmup:
                stages["idle_frame"].append((t1 - t0) * 1e3 + decode_ms[i])
            continue
        with torch.inference_mode():
            embedding = network(face.unsqueeze(0))[0].numpy()
        t2 = time.perf_counter()
        gallery.identify(embedding)
        total = (time.perf_counter() - t0) * 1e3 + decode_ms[i]
        if i >= warmup:
            stages["detect"].append((t1 - t0) * 1e3)
            stages["embed"].append((t2 - t1) * 1e3)
            stages["end_to_end"].append(total)
    return {k: _stats(v) for k, v in stages.items()}


def _torch_reference(
    recognition: RecognitionConfig, embedder: Embedder, faces: npt.NDArray[np.uint8]
) -> npt.NDArray[np.float32]:
    """torch fp32 embeddings of ``faces`` from the weights the embedder was made from."""
    from lockers.vision.embedder import TorchEmbedder, build_network

    state = None
    if embedder.model_version != UNTRAINED_VERSION:
        from lockers.vision.weights import resolve_weights

        loaded = resolve_weights(recognition)
        state = None if loaded is None else loaded.state_dict
    return TorchEmbedder(build_network(state), "reference", recognition.threads).embed(faces)


def refusal_reasons(analysis: Analysis) -> list[str]:
    """Why a frame gave no embedding: ``no_face``, or the quality gate's reason codes
    (``multiple_faces`` among them)."""
    if analysis.subject is None:
        return ["no_face"]
    return list(analysis.quality.reasons) or ["not_embedded"]


def _peak_rss_mb() -> float:
    """This process's peak resident set size (MiB).

    VmHWM, not ``ru_maxrss``: Linux keeps ``ru_maxrss`` across ``exec``, so a probe started from
    the bench would report the bench's own size at the moment it forked (1.3-1.5 GB seen, for
    a kiosk of under 400 MB). VmHWM belongs to the new address space.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return round(int(line.split()[1]) / 1024, 1)  # kB
    except OSError:
        pass
    # ru_maxrss is in KiB on Linux.
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def measure_startup(settings: Settings) -> dict[str, Any]:
    """Time from a fresh interpreter to the first recognised frame, and that process's peak RSS.

    Runs in a child process so the figures are the kiosk's own, not the benchmark's.
    """
    code = (
        "import time; t0 = time.perf_counter()\n"
        "import json, sys\n"
        "from lockers.vision.bench import _startup_probe\n"
        "print(json.dumps(_startup_probe(sys.argv[1], t0)))\n"
    )
    payload = settings.model_dump_json()
    result = subprocess.run(
        [sys.executable, "-c", code, payload], capture_output=True, text=True, timeout=300
    )
    if result.returncode != 0:
        return {"error": result.stderr.strip().splitlines()[-1:]}
    return json.loads(result.stdout.strip().splitlines()[-1])


def _startup_probe(settings_json: str, t0: float) -> dict[str, Any]:
    settings = Settings.model_validate_json(settings_json)
    recognition = settings.recognition.model_copy(update={"allow_untrained": True})
    pipeline = FacePipeline.from_settings(settings, load_embedder(recognition))
    t_ready = time.perf_counter()
    frames, _, _ = read_frames(SAMPLE_VIDEO, 1)
    analysis = pipeline.analyse(frames[0])
    t_first = time.perf_counter()
    return {
        "ready_s": round(t_ready - t0, 2),
        "first_frame_s": round(t_first - t0, 2),
        "recognised_first_frame": analysis.embedding is not None,
        "torch_imported": "torch" in sys.modules,
        "peak_rss_mb": _peak_rss_mb(),
    }
