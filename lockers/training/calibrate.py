"""``lockers calibrate``: the kiosk's threshold and margin for a target false-accept rate.

From a site's own enrolment photos (folder per person), with the kiosk's pipeline and embedder:

- **threshold**: the lowest cosine whose 1:1 FAR over all different-person pairs is at most the
  target (rounded *up* to 3 decimals, so rounding never accepts more);
- **margin**: the smallest value on a 0.00-0.30 grid for which a leave-one-out 1:N simulation
  of the kiosk's rule (best ≥ threshold and best - second ≥ margin) keeps wrong-person accepts
  (a probe matched to someone else, or a stranger matched to anyone) at or below the target.

Everything behind the choice goes into a JSON evidence report (and a ROC plot) kept beside it.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from lockers.training.dataset import scan_identity_tree
from lockers.training.faces import (
    EmbedderChoice,
    NotEnoughFacesError,
    PreparedFace,
    Progress,
    Source,
    embed_prepared,
    open_embedder,
    prepare_faces,
)
from lockers.training.metrics import RocCurve, roc_auc, roc_curve, tar_at_far

if TYPE_CHECKING:
    from lockers.config import Settings

MARGIN_GRID = tuple(round(0.01 * i, 2) for i in range(31))


@dataclass
class CalibrateJob:
    data_root: Path
    report_dir: Path
    target_far: float = 1e-3
    weights: Path | None = None
    source: Source = "detect"
    gate: bool = True
    allow_untrained: bool = False
    force: bool = False


@dataclass
class Calibration:
    threshold: float
    margin: float
    report: dict[str, Any]
    report_path: Path

    @property
    def writable(self) -> bool:
        """False for untrained weights: such a calibration must never reach a kiosk."""
        return not self.report["untrained"]


def simulate_identification(
    embeddings: npt.NDArray[np.float32],
    labels: npt.NDArray[np.int64],
    threshold: float,
    margins: tuple[float, ...] = MARGIN_GRID,
) -> list[dict[str, float]]:
    """Leave-one-out 1:N runs of the kiosk's rule at ``threshold`` for each margin.

    Each image is a probe against all other images (templates), scored per identity by its best
    template. A probe whose identity has other images is a *genuine* attempt; every probe is also
    a *stranger* attempt with its own identity removed from the gallery. Returns per margin:
    ``correct_accept_rate`` (genuine attempts accepted as themselves), ``misidentification_rate``
    (genuine attempts accepted as someone else), ``stranger_accept_rate`` and
    ``wrong_accept_rate`` (both kinds of wrong accept over all attempts).
    """
    sims = embeddings @ embeddings.T
    ids = np.unique(labels)
    n = len(labels)
    # best[i, k]: probe i's best score against identity k, excluding itself.
    best = np.full((n, len(ids)), -np.inf)
    np.fill_diagonal(sims, -np.inf)
    for k, ident in enumerate(ids):
        best[:, k] = sims[:, labels == ident].max(axis=1)
    own = np.searchsorted(ids, labels)
    has_own = np.isfinite(best[np.arange(n), own])

    def top2(scores: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        order = np.argsort(-scores, axis=1)
        rows = np.arange(len(scores))
        first = scores[rows, order[:, 0]]
        second = scores[rows, order[:, 1]] if scores.shape[1] > 1 else np.full(len(scores), -1.0)
        return order[:, 0], first, np.where(np.isfinite(second), second, -1.0)

    g_idx, g_s1, g_s2 = top2(best[has_own])
    stranger = best.copy()
    stranger[np.arange(n), own] = -np.inf
    _, s_s1, s_s2 = top2(stranger)
    genuine_own = own[has_own]
    rows = []
    for m in margins:
        g_accept = (g_s1 >= threshold) & (g_s1 - g_s2 >= m)
        s_accept = (s_s1 >= threshold) & (s_s1 - s_s2 >= m)
        correct = g_accept & (g_idx == genuine_own)
        wrong = g_accept & (g_idx != genuine_own)
        attempts = max(int(has_own.sum()), 1)
        rows.append(
            {
                "margin": m,
                "correct_accept_rate": float(correct.sum() / attempts),
                "misidentification_rate": float(wrong.sum() / attempts),
                "stranger_accept_rate": float(s_accept.mean()),
                "wrong_accept_rate": float((wrong.sum() + s_accept.sum()) / (attempts + n)),
            }
        )
    return rows


def calibrate(
    job: CalibrateJob, settings: Settings, progress: Progress | None = None
) -> Calibration:
    """Choose threshold and margin; write the evidence report (not the config: the caller does).

    Raises:
        DatasetError: no images. WeightsError: no usable weights.
        NotEnoughFacesError: too few people or impostor pairs for the target FAR (unless
            ``job.force``).
    """
    if not 0 < job.target_far < 1:
        raise NotEnoughFacesError(f"target FAR must be in (0, 1), got {job.target_far}")
    faces = _site_faces(job, settings, progress)
    labels, embeddings = faces.labels, faces.embeddings
    i, j = np.triu_indices(len(labels), k=1)
    scores = np.sum(embeddings[i] * embeddings[j], axis=1)
    same = labels[i] == labels[j]
    if not same.any():
        raise NotEnoughFacesError(
            "no person has two usable faces, so there are no genuine pairs",
            hint="enrol at least two photos per person",
        )
    roc = roc_curve(scores, same)
    at_target = tar_at_far(roc, job.target_far)
    if not at_target.supported and not job.force:
        raise NotEnoughFacesError(
            f"{at_target.note}: a threshold for FAR={job.target_far:g} cannot be measured on "
            f"{faces.people} people",
            hint="add more people's photos, raise --target-far, or pass --force to pick one "
            "anyway (the report will say it is unsupported)",
        )
    threshold = at_target.threshold
    if not math.isfinite(threshold):
        threshold = float(scores.max())
    threshold = min(math.ceil(threshold * 1000 - 1e-9) / 1000, 1.0)
    grid = simulate_identification(embeddings, labels, threshold)
    meets = [row for row in grid if row["wrong_accept_rate"] <= job.target_far]
    chosen = meets[0] if meets else grid[-1]
    report: dict[str, Any] = _provenance(job, faces) | {
        "genuine_pairs": int(same.sum()),
        "impostor_pairs": int((~same).sum()),
        "supported": at_target.supported,
        "support_note": at_target.note,
        "auc": roc_auc(roc),
        "threshold": threshold,
        "far_at_threshold": float(np.mean(scores[~same] >= threshold)),
        "tar_at_threshold": float(np.mean(scores[same] >= threshold)),
        "margin": chosen["margin"],
        "margin_meets_target": bool(meets),
        "identification_at_choice": chosen,
        "margin_grid": grid,
        "previous": {
            "threshold": settings.recognition.threshold,
            "margin": settings.recognition.margin,
        },
    }
    report_path = _write_evidence(report, job.report_dir, faces.choice.model_version, roc)
    return Calibration(threshold, float(chosen["margin"]), report, report_path)


@dataclass
class _SiteFaces:
    """The site's usable faces, embedded by the kiosk's embedder (or the weights given)."""

    prepared: dict[str, PreparedFace]
    mode_key: str
    choice: EmbedderChoice
    labels: npt.NDArray[np.int64]
    embeddings: npt.NDArray[np.float32]

    @property
    def people(self) -> int:
        return len(np.unique(self.labels))


def _site_faces(job: CalibrateJob, settings: Settings, progress: Progress | None) -> _SiteFaces:
    """Detect (or take as aligned), gate and embed every photo under ``job.data_root``.

    Raises:
        NotEnoughFacesError: fewer than 2 people have a usable face.
    """
    index = scan_identity_tree(job.data_root)
    mode = settings.recognition.input_mode
    prepared = prepare_faces(
        index.paths,
        index.root,
        settings,
        modes=(mode,),
        source=job.source,
        gate=job.gate,
        progress=progress,
    )
    mode_key = "aligned" if job.source == "prealigned" else mode
    choice = open_embedder(
        settings,
        job.weights,
        settings.recognition.backend,
        job.allow_untrained,
        job.report_dir / "onnx-cache",
    )
    emb_by_path = embed_prepared(prepared, mode_key, choice.embedder)
    kept = [(p, lab) for p, lab in zip(index.paths, index.labels, strict=True) if p in emb_by_path]
    labels = np.array([lab for _, lab in kept], dtype=np.int64)
    if len(np.unique(labels)) < 2:
        raise NotEnoughFacesError(
            f"{len(kept)} usable faces of {len(np.unique(labels))} people: need at least 2 people",
            hint="enrol more people, or see the rejected images with --no-gate",
        )
    embeddings = np.stack([emb_by_path[p] for p, _ in kept]).astype(np.float32)
    return _SiteFaces(prepared, mode_key, choice, labels, embeddings)


def _provenance(job: CalibrateJob, faces: _SiteFaces) -> dict[str, Any]:
    """The evidence report's first part: what was measured, with what, on what."""
    return {
        "untrained": faces.choice.untrained,
        "created_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "data_root": str(job.data_root),
        "model_version": faces.choice.model_version,
        "backend": faces.choice.backend,
        "input_mode": faces.mode_key,
        "quality_gate": job.gate,
        "target_far": job.target_far,
        "people": faces.people,
        "faces_used": len(faces.labels),
        "images_rejected": {k: v.rejected for k, v in faces.prepared.items() if not v.ok},
    }


def _write_evidence(
    report: dict[str, Any], report_dir: Path, model_version: str, roc: RocCurve
) -> Path:
    """``calibration-<UTC stamp>.json`` and its ROC plot in ``report_dir``; the JSON's path."""
    report_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    report_path = report_dir / f"calibration-{stamp}.json"
    report_path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    from lockers.training.plots import plot_roc

    plot_roc(
        {model_version: roc},
        report_path.with_suffix(".roc.png"),
        f"calibration ROC, threshold {report['threshold']:.3f}",
    )
    return report_path
