"""One object per training objective: ``loss = objective(embeddings, labels)``.

Classification objectives own a head (class centres) that is trained with the backbone and
dropped at export; pair objectives have no parameters.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from lockers.training.grouping import SelfDistributedGroupingLoss
from lockers.training.heads import HEADS, CosineHead
from lockers.training.pair_losses import ContrastiveLoss, TripletSemiHardLoss

CLASSIFICATION_LOSSES = tuple(HEADS)
PAIR_LOSSES = ("triplet", "contrastive")
ALL_LOSSES = CLASSIFICATION_LOSSES + PAIR_LOSSES


class Objective(nn.Module):
    """A loss over ``(embeddings (n, d), labels (n,))``; ``.head`` is None for pair losses.

    With ``grouping`` (GroupFace) the loss also takes the group logits ``(n, K)`` and adds
    ``grouping_weight`` x the self-distributed grouping loss.
    """

    def __init__(
        self,
        name: str,
        head: nn.Module | None,
        pair_loss: nn.Module | None,
        grouping: nn.Module | None = None,
        grouping_weight: float = 0.0,
    ) -> None:
        super().__init__()
        self.name = name
        self.head = head
        self.pair_loss = pair_loss
        self.grouping = grouping
        self.grouping_weight = float(grouping_weight)

    @property
    def needs_identity_batches(self) -> bool:
        """Pair losses need several images of each identity in every batch."""
        return self.pair_loss is not None

    def forward(
        self,
        embeddings: torch.Tensor,
        labels: torch.Tensor,
        group_logits: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``(loss scalar, class scores (n, classes) or None)``.

        The scores are for measuring training accuracy: a margin head's cosines *without* the
        margin (with it, the target is handicapped and argmax under-reports accuracy).

        Raises:
            ValueError: a grouping objective called without ``group_logits``, or an objective
                built with neither a head nor a pair loss.
        """
        if self.head is not None:
            logits = self.head(embeddings, labels)
            loss = F.cross_entropy(logits.float(), labels)
            if self.grouping is not None:
                if group_logits is None:
                    raise ValueError(f"the {self.name} objective with GroupFace needs group logits")
                loss = loss + self.grouping_weight * self.grouping(group_logits)
            if isinstance(self.head, CosineHead):
                return loss, self.head.cosines(embeddings).detach()
            return loss, logits.detach()
        if self.pair_loss is None:
            raise ValueError(f"the {self.name} objective has neither a head nor a pair loss")
        return self.pair_loss(embeddings, labels), None


def build_objective(
    name: str,
    embedding_dim: int,
    num_classes: int,
    params: dict[str, Any] | None = None,
    grouping_weight: float | None = None,
) -> Objective:
    """The objective called ``name`` (one of :data:`ALL_LOSSES`) with its keyword ``params``.

    ``grouping_weight`` (GroupFace only, classification losses only) adds the self-distributed
    grouping loss with that weight λ.

    Raises:
        ValueError: unknown name, parameters the loss does not take, or grouping with a pair
            loss.
    """
    params = dict(params or {})
    if grouping_weight is not None and name not in HEADS:
        raise ValueError(f"GroupFace needs a classification loss, not {name!r}")
    try:
        if name in HEADS:
            head = HEADS[name](embedding_dim, num_classes, **params)
            if grouping_weight is not None:
                grouping = SelfDistributedGroupingLoss()
                return Objective(name, head, None, grouping, grouping_weight)
            return Objective(name, head, None)
        if name == "triplet":
            return Objective(name, None, TripletSemiHardLoss(**params))
        if name == "contrastive":
            return Objective(name, None, ContrastiveLoss(**params))
    except TypeError as exc:
        raise ValueError(f"loss {name!r}: bad parameters {params}: {exc}") from None
    raise ValueError(f"unknown loss {name!r}; choose one of {', '.join(ALL_LOSSES)}")
