"""Verification metrics over scored pairs (numpy only).

A *score* is a similarity (cosine in [-1, 1] for the kiosk): higher means "more likely the same
person"; a pair is accepted when ``score >= threshold``. *Genuine* pairs are same-identity pairs,
*impostor* pairs are different-identity pairs. FAR = accepted impostors / impostors, TAR =
accepted genuines / genuines, FRR = 1 - TAR.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

DEFAULT_FARS = (1e-2, 1e-3, 1e-4)


def _check(scores: npt.ArrayLike, same: npt.ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    s = np.asarray(scores, dtype=np.float64).ravel()
    y = np.asarray(same).astype(bool).ravel()
    if s.shape != y.shape:
        raise ValueError(f"scores {s.shape} and labels {y.shape} differ in length")
    if not np.all(np.isfinite(s)):
        raise ValueError("scores must be finite")
    if y.all() or not y.any():
        raise ValueError(
            f"need both genuine and impostor pairs, got {int(y.sum())} genuine and "
            f"{int((~y).sum())} impostor"
        )
    return s, y


@dataclass(frozen=True)
class RocCurve:
    """ROC points from the strictest threshold (+inf: accept nothing) to the loosest.

    ``far``, ``tar`` and ``thresholds`` have equal length; point i accepts
    ``score >= thresholds[i]``.
    """

    far: np.ndarray
    tar: np.ndarray
    thresholds: np.ndarray
    n_genuine: int
    n_impostor: int

    @property
    def frr(self) -> np.ndarray:
        return 1.0 - self.tar


def roc_curve(scores: npt.ArrayLike, same: npt.ArrayLike) -> RocCurve:
    """ROC over every distinct score used as a threshold.

    Raises:
        ValueError: lengths differ, a score is not finite, or one class of pair is missing.
    """
    s, y = _check(scores, same)
    thresholds = np.unique(s)[::-1]
    gen = np.sort(s[y])
    imp = np.sort(s[~y])
    # Count of scores >= t for each t: len - (number strictly below t).
    tar = (len(gen) - np.searchsorted(gen, thresholds, side="left")) / len(gen)
    far = (len(imp) - np.searchsorted(imp, thresholds, side="left")) / len(imp)
    return RocCurve(
        far=np.concatenate([[0.0], far]),
        tar=np.concatenate([[0.0], tar]),
        thresholds=np.concatenate([[np.inf], thresholds]),
        n_genuine=len(gen),
        n_impostor=len(imp),
    )


def roc_auc(roc: RocCurve) -> float:
    """Area under the ROC (trapezoids; equals P(genuine > impostor) + ½·P(tie))."""
    return float(np.trapezoid(roc.tar, roc.far))


@dataclass(frozen=True)
class EqualErrorRate:
    """Where FAR = FRR, linearly interpolated between the two ROC points that bracket it."""

    eer: float
    threshold: float


def equal_error_rate(roc: RocCurve) -> EqualErrorRate:
    """The EER of ``roc``."""
    diff = roc.far - roc.frr  # rises from -1 (accept nothing) to +1 (accept everything)
    i = int(np.argmax(diff >= 0))
    if i == 0 or diff[i] == 0:
        return EqualErrorRate(float(roc.far[i]), float(roc.thresholds[i]))
    a, b = diff[i - 1], diff[i]
    w = -a / (b - a)
    eer = (1 - w) * roc.far[i - 1] + w * roc.far[i]
    t_prev = roc.thresholds[i - 1] if np.isfinite(roc.thresholds[i - 1]) else roc.thresholds[i]
    return EqualErrorRate(float(eer), float((1 - w) * t_prev + w * roc.thresholds[i]))


@dataclass(frozen=True)
class TarAtFar:
    """The best TAR whose FAR does not exceed ``target_far``, and how much data supports it.

    ``supported`` is False when there are fewer than ``1/target_far`` impostor pairs: then even a
    single false accept overshoots the target and the figure says nothing about that FAR.
    """

    target_far: float
    tar: float
    far: float
    threshold: float
    n_impostor: int
    n_impostor_needed: int
    supported: bool
    note: str


def tar_at_far(roc: RocCurve, target_far: float) -> TarAtFar:
    """TAR at ``target_far`` (e.g. 1e-3) from ``roc``."""
    if not 0 < target_far < 1:
        raise ValueError(f"target FAR must be in (0, 1), got {target_far}")
    ok = roc.far <= target_far + 1e-12
    i = int(np.flatnonzero(ok)[np.argmax(roc.tar[ok])])
    needed = math.ceil(1.0 / target_far - 1e-9)
    supported = roc.n_impostor >= needed
    note = (
        f"{roc.n_impostor} impostor pairs"
        if supported
        else f"not enough impostor pairs: {roc.n_impostor} < {needed} needed for FAR={target_far:g}"
    )
    return TarAtFar(
        target_far=target_far,
        tar=float(roc.tar[i]),
        far=float(roc.far[i]),
        threshold=float(roc.thresholds[i]),
        n_impostor=roc.n_impostor,
        n_impostor_needed=needed,
        supported=supported,
        note=note,
    )


def best_threshold(scores: npt.ArrayLike, same: npt.ArrayLike) -> tuple[float, float]:
    """``(threshold, accuracy)`` maximising accuracy of ``score >= threshold`` on these pairs.

    Candidates are the midpoints between consecutive distinct scores plus one below and one above
    all scores; ties go to the lowest threshold.
    """
    s = np.asarray(scores, dtype=np.float64).ravel()
    y = np.asarray(same).astype(bool).ravel()
    uniq = np.unique(s)
    candidates = np.concatenate([[uniq[0] - 1.0], (uniq[:-1] + uniq[1:]) / 2, [uniq[-1] + 1.0]])
    gen, imp = np.sort(s[y]), np.sort(s[~y])
    true_accepts = len(gen) - np.searchsorted(gen, candidates, side="left")
    true_rejects = np.searchsorted(imp, candidates, side="left")
    accuracy = (true_accepts + true_rejects) / len(s)
    i = int(np.argmax(accuracy))
    return float(candidates[i]), float(accuracy[i])


@dataclass(frozen=True)
class KFoldAccuracy:
    """k-fold verification accuracy: threshold fit on k-1 folds, accuracy on the held-out one."""

    mean: float
    std: float
    fold_accuracies: list[float]
    fold_thresholds: list[float]

    @property
    def threshold(self) -> float:
        """Mean of the per-fold thresholds (a single figure to show)."""
        return float(np.mean(self.fold_thresholds))


def kfold_accuracy(
    scores: npt.ArrayLike, same: npt.ArrayLike, folds: int = 10, seed: int | None = 0
) -> KFoldAccuracy:
    """LFW-protocol verification accuracy with the best threshold per fold.

    Pairs are assigned to folds round-robin (``i % folds``) after a permutation by ``seed``
    (``None``: no permutation), so pairs files sorted by identity still give mixed folds.

    Raises:
        ValueError: fewer pairs than folds, or a class of pair missing.
    """
    s, y = _check(scores, same)
    if folds < 2 or len(s) < folds:
        raise ValueError(f"need at least {folds} pairs and folds >= 2 for {folds}-fold accuracy")
    order = np.arange(len(s)) if seed is None else np.random.default_rng(seed).permutation(len(s))
    fold_of = np.empty(len(s), dtype=np.int64)
    fold_of[order] = np.arange(len(s)) % folds
    accuracies, thresholds = [], []
    for k in range(folds):
        test = fold_of == k
        threshold, _ = best_threshold(s[~test], y[~test])
        accuracies.append(float(np.mean((s[test] >= threshold) == y[test])))
        thresholds.append(threshold)
    return KFoldAccuracy(
        mean=float(np.mean(accuracies)),
        std=float(np.std(accuracies)),
        fold_accuracies=accuracies,
        fold_thresholds=thresholds,
    )


@dataclass
class VerificationReport:
    """Every figure of one evaluation, ready for JSON."""

    n_pairs: int
    n_genuine: int
    n_impostor: int
    accuracy: KFoldAccuracy
    auc: float
    eer: EqualErrorRate
    tar_at_far: list[TarAtFar]
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["accuracy"]["threshold"] = self.accuracy.threshold
        return data


def verification_report(
    scores: npt.ArrayLike,
    same: npt.ArrayLike,
    fars: tuple[float, ...] = DEFAULT_FARS,
    folds: int = 10,
    seed: int | None = 0,
) -> tuple[VerificationReport, RocCurve]:
    """All metrics of a pair evaluation, plus the ROC for plotting."""
    roc = roc_curve(scores, same)
    s = np.asarray(scores)
    report = VerificationReport(
        n_pairs=int(s.size),
        n_genuine=roc.n_genuine,
        n_impostor=roc.n_impostor,
        accuracy=kfold_accuracy(scores, same, folds=min(folds, int(s.size)), seed=seed),
        auc=roc_auc(roc),
        eer=equal_error_rate(roc),
        tar_at_far=[tar_at_far(roc, far) for far in fars],
    )
    return report, roc
