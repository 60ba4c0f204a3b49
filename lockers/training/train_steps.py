"""What the training loop checks and sums as it goes: the loss agreed across ranks, the
epoch's running sums, and the validation pass that ends an epoch on rank 0."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from lockers.training import distributed
from lockers.training.backbone import standardise
from lockers.training.dataset import FaceIndex
from lockers.training.metrics import verification_report
from lockers.training.recipe import TrainRecipe
from lockers.training.train_parts import FaceImages, TrainingError


def check_loss_finite(
    ctx: distributed.DistContext, loss: torch.Tensor, epoch: int, step: int
) -> None:
    """Raise on every rank at once when the loss of any rank is NaN or infinite.

    Under DDP a rank that raised alone would leave the others waiting in the gradient
    all-reduce until the process group's timeout; so the ranks first share their losses (one
    all-reduce, before ``backward``) and all take the same decision, with the same message.
    """
    losses = distributed.each_rank(ctx, float(loss.detach().float().item()))
    bad = {rank: value for rank, value in enumerate(losses) if not math.isfinite(value)}
    if not bad:
        return
    if ctx.distributed:
        what = ", ".join(f"{value} on rank {rank}" for rank, value in bad.items())
    else:
        what = str(next(iter(bad.values())))
    raise TrainingError(
        f"the loss became {what} at epoch {epoch + 1}, step {step + 1}",
        hint="lower lr, add warm-up, or lower the margin head's scale",
    )


@dataclass
class EpochTally:
    """Running sums of one epoch on this rank."""

    total_loss: float = 0.0
    correct: int = 0
    counted: int = 0
    seen: int = 0
    group_counts: torch.Tensor | None = None  # faces per most-likely GroupFace group

    def add(
        self,
        loss: float,
        logits: torch.Tensor | None,
        labels: torch.Tensor,
        group_counts: torch.Tensor | None,
    ) -> None:
        self.total_loss += loss
        if logits is not None:
            self.correct += int((logits.argmax(dim=1) == labels).sum())
            self.counted += len(labels)
        self.seen += len(labels)
        if group_counts is not None:
            batch = group_counts.cpu()
            self.group_counts = batch if self.group_counts is None else self.group_counts + batch


@torch.no_grad()
def embed_index(
    backbone: nn.Module, index: FaceIndex, image_size: int, device: torch.device
) -> np.ndarray:
    """L2-normalised embeddings of every image of ``index``, in order."""
    backbone.eval()
    loader = DataLoader(FaceImages(index, image_size), batch_size=64, shuffle=False)
    chunks = []
    for images, _ in loader:
        emb = backbone(standardise(images.to(device))).float()
        chunks.append(torch.nn.functional.normalize(emb, dim=1).cpu().numpy())
    return np.concatenate(chunks)


def validation_metrics(
    backbone: nn.Module, val_index: FaceIndex, recipe: TrainRecipe, device: torch.device
) -> dict[str, float]:
    """Verification accuracy, AUC and EER on the validation identities' pairs (at most
    ``val_max_pairs``, drawn with the recipe's seed); empty when there are no pairs of both
    kinds."""
    if len(val_index) < 2:
        return {}
    emb = embed_index(backbone, val_index, recipe.image_size, device)
    labels = np.asarray(val_index.labels)
    i, j = np.triu_indices(len(labels), k=1)
    same = labels[i] == labels[j]
    if same.all() or not same.any():
        return {}
    if len(i) > recipe.val_max_pairs:
        keep = np.random.default_rng(recipe.seed).choice(
            len(i), recipe.val_max_pairs, replace=False
        )
        i, j, same = i[keep], j[keep], same[keep]
        if same.all() or not same.any():
            return {}
    scores = np.sum(emb[i] * emb[j], axis=1)
    report, _ = verification_report(scores, same, folds=min(10, len(scores)))
    return {
        "val_verification_accuracy": report.accuracy.mean,
        "val_auc": report.auc,
        "val_eer": report.eer.eer,
        "val_pairs": float(report.n_pairs),
    }
