"""GroupFace's self-distributed grouping loss (Kim et al., CVPR 2020, section 3.3).

Nobody labels faces with groups, so the group decision network (GDN) is trained on labels it
makes itself. Left alone, it would put every face in the group that happens to win at the start.
The paper's labels subtract each group's expected probability first::

    p̃_k(x) = (p_k(x) - E_x[p_k(x)]) / K + 1/K,        G*(x) = argmax_k p̃_k(x)

so a group that wins for everyone loses its head start, and each face goes to the group it likes
*more than the average face does*: about N/K faces per group. The loss is the cross-entropy of
the GDN's logits with G*(x). E_x is taken over the batch (each process's own slice under DDP).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def self_distributed_labels(probs: torch.Tensor) -> torch.Tensor:
    """Group labels ``(n,)`` int64 from group probabilities ``(n, K)`` (no gradient)."""
    probs = probs.detach().float()
    groups = probs.shape[1]
    normalised = (probs - probs.mean(dim=0, keepdim=True)) / groups + 1.0 / groups
    return normalised.argmax(dim=1)


class SelfDistributedGroupingLoss(nn.Module):
    """Cross-entropy of group logits ``(n, K)`` with their self-distributed labels; a scalar."""

    def forward(self, group_logits: torch.Tensor) -> torch.Tensor:
        logits = group_logits.float()
        labels = self_distributed_labels(F.softmax(logits, dim=1))
        return F.cross_entropy(logits, labels)


def group_usage(group_logits: torch.Tensor) -> torch.Tensor:
    """Share of faces whose most likely group is each group, ``(K,)``; sums to 1."""
    chosen = group_logits.detach().argmax(dim=1)
    counts = torch.bincount(chosen, minlength=group_logits.shape[1]).float()
    return counts / counts.sum()
