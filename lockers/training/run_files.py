"""What a training run writes and reads back: checkpoints, the metrics table and curves, and the
kiosk's weights file with its model card.

Only rank 0 calls the writers. Every ``torch.save`` goes through :func:`save_atomic`, so a crash
mid-save keeps the previous file.
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch
from torch import nn

from lockers.training.dataset import FaceIndex
from lockers.training.recipe import TrainRecipe
from lockers.training.train_parts import TrainingError, embedding_dim

CHECKPOINT_FORMAT = "lockers-train-checkpoint/1"


def save_atomic(obj: object, path: Path) -> None:
    """``torch.save`` that never leaves a half-written file (a crash mid-save keeps the old)."""
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    tmp.replace(path)


def read_checkpoint(path: Path, recipe: TrainRecipe, identities: Sequence[str]) -> dict[str, Any]:
    """The checkpoint at ``path``, after checking a run of ``recipe`` on ``identities`` may
    resume from it (only ``epochs`` may differ)."""
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise TrainingError(f"checkpoint {path} does not exist") from None
    except Exception as exc:
        raise TrainingError(f"cannot read checkpoint {path}: {exc}") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        raise TrainingError(
            f"{path} is not a training checkpoint",
            hint="to start from plain weights use --weights instead of --resume",
        )
    saved = {k: v for k, v in ckpt["recipe"].items() if k != "epochs"}
    now = {k: v for k, v in recipe.model_dump().items() if k != "epochs"}
    changed = sorted(k for k in now if saved.get(k) != now[k])
    if changed:
        raise TrainingError(
            f"checkpoint {path} was trained with a different recipe ({', '.join(changed)})",
            hint="resume with the same recipe (only 'epochs' may change)",
        )
    if list(ckpt["identities"]) != list(identities):
        raise TrainingError(
            f"the training identities differ from those in checkpoint {path}",
            hint="resume on the same dataset and split",
        )
    return ckpt


def write_metrics(history: list[dict[str, float]], out: Path) -> None:
    """``metrics.csv``, ``metrics.json`` and ``curves.png`` of the epochs so far."""
    keys: list[str] = []
    for row in history:
        keys += [k for k in row if k not in keys]
    with (out / "metrics.csv").open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=keys)
        writer.writeheader()
        writer.writerows(history)
    (out / "metrics.json").write_text(json.dumps(history, indent=2) + "\n")
    from lockers.training.plots import plot_training_curves

    plot_training_curves(history, out / "curves.png")


def export_model(
    backbone: nn.Module,
    recipe: TrainRecipe,
    out: Path,
    model_version: str,
    *,
    base_version: str,
    base_sha256: str | None,
    train_index: FaceIndex,
    val_index: FaceIndex,
    history: list[dict[str, float]],
) -> tuple[Path, Path]:
    """The kiosk's weights file: the backbone state_dict only (no head), float32, CPU; and its
    model card. Returns both paths.

    With GroupFace the backbone's state_dict holds the ``groupface.*`` block as well, which
    the kiosk's weights check accepts and its embedder builds the GroupFace network for.
    """
    state = {
        k: v.detach().float().cpu() if v.is_floating_point() else v.detach().cpu()
        for k, v in backbone.state_dict().items()
    }
    weights_path = out / f"{model_version}.pt"
    save_atomic(state, weights_path)
    groupface = recipe.groupface
    card = {
        "model_version": model_version,
        "architecture": recipe.backbone + ("+groupface" if groupface else ""),
        "groupface": groupface.model_dump() if groupface else None,
        "embedding_dim": embedding_dim(recipe),
        "image_size": recipe.image_size,
        "standardisation": "(x - 127.5) / 128",
        "base_version": base_version,
        "base_sha256": base_sha256,
        "sha256": hashlib.sha256(weights_path.read_bytes()).hexdigest(),
        "recipe": recipe.model_dump(),
        "train_identities": len(train_index.identities),
        "train_images": len(train_index),
        "val_identities": len(val_index.identities),
        "final_metrics": history[-1] if history else {},
        "created_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "import_command": f"lockers models import {weights_path} --version {model_version}",
    }
    card_path = out / f"{model_version}.json"
    card_path.write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")
    return weights_path, card_path
