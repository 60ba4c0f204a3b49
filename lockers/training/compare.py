"""``lockers evaluate --compare W1 W2 ...``: several models side by side on one pairs file.

Every model is scored on the same pairs and the same aligned crops (the images go through the
kiosk's detector, gate and aligner once), on the serving back-end (ONNX Runtime, the kiosk's
own embedder path). The first model is the baseline; each other model is tested against it
with McNemar's paired test, so a difference that is only noise is called so.

Weights whose batch-norm statistics were never updated (random initialisation, never trained),
and random weights asked for with ``untrained``, are labelled UNTRAINED in every output.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from lockers.errors import WeightsError
from lockers.training.dataset import Pair, read_pairs
from lockers.training.evaluate import usable_pairs, write_scores
from lockers.training.faces import (
    InputMode,
    NotEnoughFacesError,
    PreparedFace,
    Progress,
    Source,
    embed_prepared,
    prepare_faces,
)
from lockers.training.metrics import DEFAULT_FARS, RocCurve, tar_at_far, verification_report
from lockers.training.significance import McNemarResult, mcnemar

if TYPE_CHECKING:
    from lockers.config import Settings
    from lockers.vision.embedder import Embedder

UNTRAINED_NAME = "untrained"
"""Pass this instead of a file (with --dev-allow-untrained) for seeded random weights."""
UNTRAINED_TAG = "[UNTRAINED]"
UNTRAINED_MODEL_WARNING = (
    "UNTRAINED WEIGHTS (random values, never trained): their figures say nothing about "
    "recognition; never use them to judge or configure a kiosk"
)
LATENCY_CALLS = 16
"""Single-face embed calls timed per model (the kiosk embeds one face per frame)."""


@dataclass
class CompareJob:
    """What to compare: weights files (the first is the baseline) on one pairs file."""

    pairs_file: Path
    images_root: Path
    out_dir: Path
    models: list[Path]
    mode: InputMode = "aligned"
    source: Source = "detect"
    gate: bool = True
    allow_untrained: bool = False
    folds: int = 10
    fars: tuple[float, ...] = DEFAULT_FARS
    target_far: float = 1e-3


@dataclass
class CompareResult:
    report: dict[str, Any]
    report_path: Path
    markdown_path: Path
    plots: list[Path] = field(default_factory=list)

    @property
    def any_untrained(self) -> bool:
        return any(m["untrained"] for m in self.report["models"])


def batchnorm_never_updated(state_dict: Mapping[str, Any]) -> bool:
    """True when every batch-norm layer still has its initial statistics (mean 0, variance 1):
    the network has never seen a training batch, so its weights are random."""
    means = [v for k, v in state_dict.items() if k.endswith("running_mean")]
    variances = [v for k, v in state_dict.items() if k.endswith("running_var")]
    if not means:
        return False
    return all(bool((m == 0).all()) for m in means) and all(bool((v == 1).all()) for v in variances)


@dataclass
class _Model:
    label: str
    weights: str
    model_version: str
    untrained: bool
    embedder: Embedder
    onnx_ready_s: float


def _open_model(
    path: Path, index: int, settings: Settings, allow_untrained: bool, cache_dir: Path
) -> _Model:
    """The ONNX embedder of one weights file (exported and checked on first use, then cached
    beside the weights, exactly as for the kiosk)."""
    from lockers.vision.embedder import create_embedder
    from lockers.vision.weights import load_weights

    start = time.perf_counter()
    random_weights = str(path) == UNTRAINED_NAME
    if random_weights and not allow_untrained:
        raise WeightsError(
            f"model {index + 1} is {UNTRAINED_NAME!r} (random weights)",
            hint="add --dev-allow-untrained to include random weights as a development baseline",
        )
    loaded = None if random_weights else load_weights(path)
    config = settings.recognition.model_copy(
        update={"backend": "onnx", "allow_untrained": random_weights, "weights": path}
    )
    cache_dir.mkdir(parents=True, exist_ok=True)
    embedder = create_embedder(config, loaded, cache_dir=cache_dir)
    untrained = loaded is None or batchnorm_never_updated(loaded.state_dict)
    version = embedder.model_version
    label = f"{index + 1}. {version}" + (f" {UNTRAINED_TAG}" if untrained else "")
    return _Model(label, str(path), version, untrained, embedder, time.perf_counter() - start)


def _single_face_ms(embedder: Embedder, faces: list[np.ndarray]) -> float:
    """Median ms of one-face calls, as the kiosk makes them (after one warm-up call)."""
    embedder.embed(faces[0][None])
    times = []
    for face in faces[:LATENCY_CALLS]:
        start = time.perf_counter()
        embedder.embed(face[None])
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def compare_models(
    job: CompareJob, settings: Settings, progress: Progress | None = None
) -> CompareResult:
    """Score every pair with every model; write ``compare.json``, ``compare.md``,
    ``scores.csv``, ``roc.png`` and ``det.png`` into ``job.out_dir``.

    Raises:
        DatasetError: bad pairs file. WeightsError: a weights file is missing or invalid.
        NotEnoughFacesError: fewer than 2 usable pairs of each kind, or fewer than 2 models.
    """
    started = time.perf_counter()
    if len(job.models) < 2:
        raise NotEnoughFacesError(
            f"--compare needs at least two weights files, got {len(job.models)}",
            hint="list the baseline first: lockers evaluate --compare BASE.pt TUNED.pt ...",
        )
    if not 0 < job.target_far < 1:
        raise NotEnoughFacesError(f"target FAR must be in (0, 1), got {job.target_far}")
    pairs = read_pairs(job.pairs_file)
    mode: InputMode = "aligned" if job.source == "prealigned" else job.mode
    prepared = prepare_faces(
        [p for pair in pairs for p in (pair.a, pair.b)],
        job.images_root,
        settings,
        (mode,),
        job.source,
        job.gate,
        progress,
    )
    prepare_s = time.perf_counter() - started
    usable, same = usable_pairs(pairs, prepared)
    job.out_dir.mkdir(parents=True, exist_ok=True)
    bench = _PairBench(job, mode, prepared, usable, same)
    scored = [
        bench.score(
            _open_model(path, index, settings, job.allow_untrained, job.out_dir / "onnx-cache")
        )
        for index, path in enumerate(job.models)
    ]
    rows = [m.row for m in scored]
    for index in range(1, len(rows)):
        rows[index]["vs_baseline"] = {
            "baseline": rows[0]["label"],
            "at_accuracy_threshold": _paired(scored[0].correct_acc, scored[index].correct_acc),
            "at_target_far_threshold": _paired(scored[0].correct_far, scored[index].correct_far),
        }
    rows[0]["vs_baseline"] = None
    report_data = _report(job, mode, pairs, usable, prepared, rows)
    report_data["timing_s"] = {
        "prepare_faces": round(prepare_s, 2),
        "total": round(time.perf_counter() - started, 2),
        "note": "wall time of this run, ONNX exports included (cached for later runs)",
    }
    scores_by_model = {m.row["label"]: m.scores for m in scored}
    curves = {m.row["label"]: m.roc for m in scored}
    return _write_outputs(job, report_data, usable, scores_by_model, curves)


@dataclass
class _ModelScores:
    """One model on the pairs: its report row, ROC, pair scores, and which pairs it got right
    at its accuracy threshold and at the target-FAR threshold (for the paired tests)."""

    row: dict[str, Any]
    roc: RocCurve
    scores: np.ndarray
    correct_acc: np.ndarray
    correct_far: np.ndarray


@dataclass
class _PairBench:
    """The same prepared faces and pairs, for every model in turn."""

    job: CompareJob
    mode: InputMode
    prepared: dict[str, PreparedFace]
    usable: list[Pair]
    same: np.ndarray

    def score(self, model: _Model) -> _ModelScores:
        job = self.job
        embed_start = time.perf_counter()
        emb = embed_prepared(self.prepared, self.mode, model.embedder)
        embed_s = time.perf_counter() - embed_start
        scores = np.array([float(emb[p.a] @ emb[p.b]) for p in self.usable])
        report, roc = verification_report(scores, self.same, job.fars, job.folds)
        at_target = tar_at_far(roc, job.target_far)
        faces = [f.faces[self.mode] for f in self.prepared.values() if self.mode in f.faces]
        row = report.to_dict()
        row.update(
            label=model.label,
            weights=model.weights,
            model_version=model.model_version,
            untrained=model.untrained,
            warning=UNTRAINED_MODEL_WARNING if model.untrained else None,
            backend="onnx",
            threshold_at_target_far=_threshold_dict(at_target, job.target_far),
            ms_per_face_single=round(_single_face_ms(model.embedder, faces), 3),
            ms_per_face_batched=round(1e3 * embed_s / max(len(emb), 1), 3),
            onnx_ready_s=round(model.onnx_ready_s, 2),
        )
        return _ModelScores(
            row,
            roc,
            scores,
            (scores >= report.accuracy.threshold) == self.same,
            (scores >= at_target.threshold) == self.same,
        )


def _threshold_dict(t: Any, target: float) -> dict[str, Any]:
    return {
        "target_far": target,
        "threshold": t.threshold,
        "far": t.far,
        "tar": t.tar,
        "n_impostor": t.n_impostor,
        "supported": t.supported,
        "note": t.note,
    }


def _paired(baseline: np.ndarray, other: np.ndarray) -> dict[str, Any]:
    result: McNemarResult = mcnemar(baseline, other)
    data = result.to_dict()
    data["verdict"] = result.verdict()
    return data


def _report(
    job: CompareJob,
    mode: str,
    pairs: list[Any],
    usable: list[Any],
    prepared: dict[str, PreparedFace],
    rows: list[dict[str, Any]],
) -> dict[str, Any]:
    untrained = [r["label"] for r in rows if r["untrained"]]
    return {
        "created_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "pairs_file": str(job.pairs_file),
        "images_root": str(job.images_root),
        "input_mode": mode,
        "source": job.source,
        "quality_gate": job.gate,
        "backend": "onnx (the kiosk's serving back-end)",
        "target_far": job.target_far,
        "pairs_total": len(pairs),
        "pairs_used": len(usable),
        "n_genuine": int(sum(p.same for p in usable)),
        "n_impostor": int(sum(not p.same for p in usable)),
        "images_total": len(prepared),
        "images_rejected": {k: v.rejected for k, v in prepared.items() if not v.ok},
        "baseline": rows[0]["label"],
        "untrained_models": untrained,
        "warning": f"{UNTRAINED_MODEL_WARNING}: {', '.join(untrained)}" if untrained else None,
        "models": rows,
    }


def _write_outputs(
    job: CompareJob,
    report: dict[str, Any],
    usable: list[Any],
    scores: dict[str, np.ndarray],
    curves: dict[str, RocCurve],
) -> CompareResult:
    from lockers.training.compare_markdown import render_markdown
    from lockers.training.plots import plot_det, plot_roc

    out = job.out_dir
    report_path = out / "compare.json"
    report_path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    markdown_path = out / "compare.md"
    markdown_path.write_text(render_markdown(report), encoding="utf-8")
    write_scores(out / "scores.csv", usable, scores)
    title = f"{report['n_genuine']} genuine / {report['n_impostor']} impostor pairs"
    if report["untrained_models"]:
        numbers = ", ".join(label.split(".")[0] for label in report["untrained_models"])
        title += f"\nUNTRAINED (meaningless): model {numbers}"
    plots = [
        plot_roc(curves, out / "roc.png", f"ROC: {title}"),
        plot_det(curves, out / "det.png", f"DET: {title}"),
    ]
    return CompareResult(report, report_path, markdown_path, plots)
