"""The parts one training run is built from: its images, the trained network, the optimiser and
learning-rate schedule, the seeding, and the name of the model it makes.

Pure construction, no loop: :mod:`lockers.training.trainer` puts them together.
"""

from __future__ import annotations

import math
import random
import re
from datetime import UTC, datetime
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset

from lockers.errors import LockersError
from lockers.training.dataset import FaceIndex, load_rgb
from lockers.training.objectives import Objective
from lockers.training.recipe import TrainRecipe
from lockers.vision.types import EMBEDDING_DIM

VERSION_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class TrainingError(LockersError):
    """A run cannot start or continue (bad resume point, data too small, ...)."""


class FaceImages(Dataset[tuple[torch.Tensor, int]]):
    """Images of a :class:`FaceIndex` as ``(3, s, s)`` uint8 RGB tensors with their labels."""

    def __init__(self, index: FaceIndex, image_size: int) -> None:
        self.index = index
        self.image_size = image_size

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        rgb = load_rgb(self.index.root / self.index.paths[i], self.image_size)
        return torch.from_numpy(rgb).permute(2, 0, 1).contiguous(), self.index.labels[i]


class TrainNet(nn.Module):
    """Backbone and objective in one module, so DDP synchronises the head's gradients too."""

    def __init__(self, backbone: nn.Module, objective: Objective) -> None:
        super().__init__()
        self.backbone = backbone
        self.objective = objective
        # GroupFace: the grouping loss needs the group decision network's logits too.
        self.groupface = objective.grouping is not None
        self.group_counts: torch.Tensor | None = None  # faces per most-likely group, last batch

    def forward(
        self, images: torch.Tensor, labels: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        if self.groupface:
            out = self.backbone(images, return_groups=True)
            self.group_counts = torch.bincount(
                out.group_logits.detach().argmax(dim=1), minlength=out.group_logits.shape[1]
            )
            return self.objective(out.embedding, labels, out.group_logits)
        return self.objective(self.backbone(images), labels)


def embedding_dim(recipe: TrainRecipe) -> int:
    """Length of the embeddings the recipe's backbone makes (InceptionResnetV1's is fixed)."""
    return EMBEDDING_DIM if recipe.backbone == "inception_resnet_v1" else recipe.embedding_dim


def lr_factor(recipe: TrainRecipe, step: int, steps_per_epoch: int) -> float:
    """Multiplier of the base learning rate at optimiser step ``step`` (0-based).

    Linear warm-up from ``warmup_start_factor`` over ``warmup_steps``, then constant, StepLR
    (× ``gamma`` every ``step_size_epochs``) or cosine annealing to ``min_lr_factor`` over the
    remaining steps.
    """
    if step < recipe.warmup_steps:
        w = recipe.warmup_start_factor
        return w + (1.0 - w) * step / recipe.warmup_steps
    if recipe.schedule == "step":
        return recipe.gamma ** ((step // steps_per_epoch) // recipe.step_size_epochs)
    if recipe.schedule == "cosine":
        total = max(recipe.epochs * steps_per_epoch - recipe.warmup_steps, 1)
        progress = min((step - recipe.warmup_steps) / total, 1.0)
        floor = recipe.min_lr_factor
        return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))
    return 1.0


def seed_everything(seed: int, deterministic: bool) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if deterministic:
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False


def build_optimizer(recipe: TrainRecipe, net: TrainNet) -> torch.optim.Optimizer:
    # A GroupFace block is new like the head (its group projections start at zero): it learns
    # at the head's rate, or fine-tuning's small backbone rate would leave it near zero.
    fresh = [p for name, p in net.backbone.named_parameters() if name.startswith("groupface.")]
    fresh_ids = {id(p) for p in fresh}
    backbone = [p for p in net.backbone.parameters() if id(p) not in fresh_ids]
    groups: list[dict[str, Any]] = [{"params": backbone, "lr": recipe.lr}]
    head = list(net.objective.parameters()) + fresh
    if head:
        groups.append({"params": head, "lr": recipe.lr * recipe.head_lr_factor})
    if recipe.optimizer == "sgd":
        return torch.optim.SGD(
            groups, lr=recipe.lr, momentum=recipe.momentum, weight_decay=recipe.weight_decay
        )
    if recipe.optimizer == "adam":
        return torch.optim.Adam(groups, lr=recipe.lr, weight_decay=recipe.weight_decay)
    return torch.optim.AdamW(groups, lr=recipe.lr, weight_decay=recipe.weight_decay)


def default_version(recipe: TrainRecipe, base: str) -> str:
    stamp = datetime.now(UTC).strftime("%Y%m%d%H%M")
    method = recipe.loss
    if recipe.groupface is not None:
        method = f"groupface{recipe.groupface.groups}-{recipe.loss}"
    return f"{base}-ft-{method}-{stamp}"[:64]
