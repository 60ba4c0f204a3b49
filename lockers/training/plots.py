"""PNG plots: ROC, DET and training curves.

Uses matplotlib's object API with the Agg canvas directly (no pyplot, no global backend), so it
works headless and never touches a GUI toolkit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from statistics import NormalDist

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from lockers.training.metrics import RocCurve


def _save(fig: Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    FigureCanvasAgg(fig)
    fig.savefig(path, dpi=110)
    return path


def plot_roc(curves: Mapping[str, RocCurve], path: Path, title: str = "ROC") -> Path:
    """TAR against FAR (log FAR axis) for each labelled curve; returns ``path``."""
    fig = Figure(figsize=(5.5, 4.5))
    ax = fig.add_subplot()
    for label, roc in curves.items():
        floor = 1.0 / max(roc.n_impostor, 1) / 2  # log axis: show FAR = 0 just below 1/n
        ax.step(np.maximum(roc.far, floor), roc.tar, where="post", label=label)
    ax.set_xscale("log")
    ax.set_xlabel("false accept rate (FAR)")
    ax.set_ylabel("true accept rate (TAR)")
    ax.set_ylim(0, 1.02)
    ax.grid(True, which="both", alpha=0.3)
    ax.set_title(title)
    ax.legend(loc="lower right", fontsize="small")
    fig.tight_layout()
    return _save(fig, path)


def plot_det(curves: Mapping[str, RocCurve], path: Path, title: str = "DET") -> Path:
    """FRR against FAR on normal-deviate axes (the DET plot); returns ``path``."""
    probit = NormalDist().inv_cdf
    ticks = [0.001, 0.01, 0.05, 0.2, 0.5, 0.8]
    fig = Figure(figsize=(5.5, 4.5))
    ax = fig.add_subplot()
    for label, roc in curves.items():
        lo = 0.5 / max(roc.n_impostor, roc.n_genuine, 1)
        far = np.clip(roc.far, lo, 1 - lo)
        frr = np.clip(roc.frr, lo, 1 - lo)
        ax.plot([probit(v) for v in far], [probit(v) for v in frr], label=label)
    ax.set_xticks([probit(t) for t in ticks], [f"{t:g}" for t in ticks])
    ax.set_yticks([probit(t) for t in ticks], [f"{t:g}" for t in ticks])
    ax.set_xlabel("false accept rate (FAR)")
    ax.set_ylabel("false reject rate (FRR)")
    ax.grid(True, alpha=0.3)
    ax.set_title(title)
    ax.legend(loc="upper right", fontsize="small")
    fig.tight_layout()
    return _save(fig, path)


def plot_training_curves(rows: Sequence[Mapping[str, float]], path: Path) -> Path:
    """Loss and accuracy per epoch from the metrics rows the trainer writes; returns ``path``."""
    epochs = [r["epoch"] for r in rows]
    fig = Figure(figsize=(9, 3.8))
    loss_ax, acc_ax = fig.subplots(1, 2)
    for key, label in (("train_loss", "train"), ("val_loss", "validation")):
        values = [r.get(key, float("nan")) for r in rows]
        if not all(np.isnan(values)):
            loss_ax.plot(epochs, values, marker="o", label=label)
    loss_ax.set_xlabel("epoch")
    loss_ax.set_ylabel("loss")
    loss_ax.legend(fontsize="small")
    loss_ax.grid(True, alpha=0.3)
    for key, label in (
        ("train_accuracy", "train (classification)"),
        ("val_verification_accuracy", "validation (verification)"),
    ):
        values = [r.get(key, float("nan")) for r in rows]
        if not all(np.isnan(values)):
            acc_ax.plot(epochs, values, marker="o", label=label)
    acc_ax.set_xlabel("epoch")
    acc_ax.set_ylabel("accuracy")
    acc_ax.set_ylim(0, 1.02)
    acc_ax.legend(fontsize="small")
    acc_ax.grid(True, alpha=0.3)
    fig.tight_layout()
    return _save(fig, path)
