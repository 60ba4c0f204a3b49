"""One object per training objective: ``loss = objective(embeddings, labels)``.

Classification objectives own a head (class centres) that is trained with the backbone and
dropped at export; pair objectives have no parameters.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from lockers.training.heads import HEADS, CosineHead
from lockers.training.pair_losses import ContrastiveLoss, TripletSemiHardLoss

CLASSIFICATION_LOSSES = tuple(HEADS)
PAIR_LOSSES = ("triplet", "contrastive")
ALL_LOSSES = CLASSIFICATION_LOSSES + PAIR_LOSSES


class Objective(nn.Module):
    """A loss over ``(embeddings (n, d), labels (n,))``; ``.head`` is None for pair losses."""

    def __init__(self, name: str, head: nn.Module | None, pair_loss: nn.Module | None) -> None:
        super().__init__()
        self.name = name
        self.head = head
        self.pair_loss = pair_loss

    @property
    def needs_identity_batches(self) -> bool:
        """Pair losses need several images of each identity in every batch."""
        return self.pair_loss is not None

    def forward(
        self, embeddings: torch.Tensor, labels: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``(loss scalar, class scores (n, classes) or None)``.

        The scores are for measuring training accuracy: a margin head's cosines *without* the
        margin (with it, the target is handicapped and argmax under-reports accuracy).
        """
        if self.head is not None:
            logits = self.head(embeddings, labels)
            loss = F.cross_entropy(logits.float(), labels)
            if isinstance(self.head, CosineHead):
                return loss, self.head.cosines(embeddings).detach()
            return loss, logits.detach()
        assert self.pair_loss is not None
        return self.pair_loss(embeddings, labels), None


def build_objective(
    name: str, embedding_dim: int, num_classes: int, params: dict[str, Any] | None = None
) -> Objective:
    """The objective called ``name`` (one of :data:`ALL_LOSSES`) with its keyword ``params``.

    Raises:
        ValueError: unknown name, or parameters the loss does not take.
    """
    params = dict(params or {})
    try:
        if name in HEADS:
            return Objective(name, HEADS[name](embedding_dim, num_classes, **params), None)
        if name == "triplet":
            return Objective(name, None, TripletSemiHardLoss(**params))
        if name == "contrastive":
            return Objective(name, None, ContrastiveLoss(**params))
    except TypeError as exc:
        raise ValueError(f"loss {name!r}: bad parameters {params}: {exc}") from None
    raise ValueError(f"unknown loss {name!r}; choose one of {', '.join(ALL_LOSSES)}")
