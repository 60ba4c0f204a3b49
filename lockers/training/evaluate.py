"""``lockers evaluate``: verification figures of the kiosk's embedder on a pairs file.

Each *variant* is an (input mode, back-end) combination: crop vs aligned input, eager torch vs
ONNX Runtime. Every variant is scored on the same pairs (those whose two images both gave a
usable face in every mode), so the figures are comparable.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from lockers.training.dataset import Pair, read_pairs
from lockers.training.faces import (
    InputMode,
    NotEnoughFacesError,
    PreparedFace,
    Progress,
    Source,
    embed_prepared,
    open_embedder,
    prepare_faces,
)
from lockers.training.metrics import DEFAULT_FARS, RocCurve, verification_report

if TYPE_CHECKING:
    from collections.abc import Mapping

    from lockers.config import Settings

UNTRAINED_WARNING = (
    "UNTRAINED RANDOM WEIGHTS (--dev-allow-untrained): these figures say nothing about "
    "recognition; never use them to judge or configure a kiosk"
)


@dataclass
class EvalJob:
    """What to evaluate. ``backends`` and ``modes`` span the variants compared."""

    pairs_file: Path
    images_root: Path
    out_dir: Path
    weights: Path | None = None
    backends: tuple[str, ...] = ("torch",)
    modes: tuple[InputMode, ...] = ("aligned",)
    source: Source = "detect"
    gate: bool = True
    allow_untrained: bool = False
    folds: int = 10
    fars: tuple[float, ...] = DEFAULT_FARS


@dataclass
class EvalResult:
    report: dict[str, Any]
    report_path: Path
    plots: list[Path] = field(default_factory=list)

    @property
    def untrained(self) -> bool:
        return bool(self.report["untrained"])


def evaluate(job: EvalJob, settings: Settings, progress: Progress | None = None) -> EvalResult:
    """Score every pair with every variant and write ``report.json``, ``scores.csv``,
    ``roc.png`` and ``det.png`` into ``job.out_dir``.

    Raises:
        DatasetError: bad pairs file. WeightsError: no weights and untrained not allowed.
        NotEnoughFacesError: fewer than 2 usable pairs of each kind remain.
    """
    pairs = read_pairs(job.pairs_file)
    modes: tuple[InputMode, ...] = ("aligned",) if job.source == "prealigned" else job.modes
    prepared = prepare_faces(
        [p for pair in pairs for p in (pair.a, pair.b)],
        job.images_root,
        settings,
        modes=modes,
        source=job.source,
        gate=job.gate,
        progress=progress,
    )
    usable, same = usable_pairs(pairs, prepared)
    job.out_dir.mkdir(parents=True, exist_ok=True)
    variants: dict[str, Any] = {}
    curves: dict[str, RocCurve] = {}
    scores_by_variant: dict[str, np.ndarray] = {}
    versions: set[str] = set()
    untrained = False
    for backend in job.backends:
        choice = open_embedder(
            settings, job.weights, backend, job.allow_untrained, job.out_dir / "onnx-cache"
        )
        versions.add(choice.model_version)
        untrained = untrained or choice.untrained
        for mode in modes:
            name = f"{mode}/{backend}"
            emb = embed_prepared(prepared, mode, choice.embedder)
            scores = np.array([float(emb[p.a] @ emb[p.b]) for p in usable])
            report, roc = verification_report(scores, same, job.fars, job.folds)
            variants[name] = report.to_dict()
            curves[name] = roc
            scores_by_variant[name] = scores
    report_data: dict[str, Any] = {
        "untrained": untrained,
        "warning": UNTRAINED_WARNING if untrained else None,
        "created_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "pairs_file": str(job.pairs_file),
        "images_root": str(job.images_root),
        "model_versions": sorted(versions),
        "source": job.source,
        "quality_gate": job.gate,
        "pairs_total": len(pairs),
        "pairs_used": len(usable),
        "images_total": len(prepared),
        "images_rejected": {k: v.rejected for k, v in prepared.items() if not v.ok},
        "variants": variants,
        "agreement": _agreement(scores_by_variant),
    }
    return _write_outputs(job, report_data, usable, scores_by_variant, curves)


def _write_outputs(
    job: EvalJob,
    report_data: dict[str, Any],
    usable: list[Pair],
    scores_by_variant: dict[str, np.ndarray],
    curves: dict[str, RocCurve],
) -> EvalResult:
    """``report.json``, ``scores.csv`` and the ROC and DET plots in ``job.out_dir``."""
    report_path = job.out_dir / "report.json"
    report_path.write_text(json.dumps(report_data, indent=2) + "\n", encoding="utf-8")
    write_scores(job.out_dir / "scores.csv", usable, scores_by_variant)
    from lockers.training.plots import plot_det, plot_roc

    untrained = bool(report_data["untrained"])
    versions = report_data["model_versions"]
    title = "UNTRAINED WEIGHTS - meaningless" if untrained else ", ".join(versions)
    plots = [
        plot_roc(curves, job.out_dir / "roc.png", f"ROC: {title}"),
        plot_det(curves, job.out_dir / "det.png", f"DET: {title}"),
    ]
    return EvalResult(report_data, report_path, plots)


def _agreement(scores: dict[str, np.ndarray]) -> dict[str, float]:
    """Largest absolute score difference between variants of the same input mode (eager vs
    ONNX should agree to ~1e-4; crop vs aligned differ by design and are not listed)."""
    out: dict[str, float] = {}
    names = sorted(scores)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            if a.split("/")[0] == b.split("/")[0]:
                out[f"{a} vs {b}"] = float(np.max(np.abs(scores[a] - scores[b])))
    return out


def usable_pairs(
    pairs: list[Pair], prepared: Mapping[Path, PreparedFace]
) -> tuple[list[Pair], npt.NDArray[np.bool_]]:
    """The pairs with a usable face in both images, and which of them are genuine.

    Raises:
        NotEnoughFacesError: fewer than 2 genuine or 2 impostor pairs are usable.
    """
    usable = [p for p in pairs if prepared[p.a].ok and prepared[p.b].ok]
    same = np.array([p.same for p in usable], dtype=bool)
    if same.sum() < 2 or (~same).sum() < 2:
        raise NotEnoughFacesError(
            f"only {int(same.sum())} genuine and {int((~same).sum())} impostor pairs of "
            f"{len(pairs)} have a usable face in both images",
            hint="see the rejected images in the report; --no-gate keeps faces that fail the "
            "quality gate",
        )
    return usable, same


def write_scores(path: Path, pairs: list[Pair], scores: dict[str, np.ndarray]) -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["a", "b", "same", *scores])
        for i, pair in enumerate(pairs):
            writer.writerow(
                [pair.a, pair.b, int(pair.same), *(f"{s[i]:.6f}" for s in scores.values())]
            )
