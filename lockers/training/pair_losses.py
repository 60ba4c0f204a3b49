"""Distance-based losses on a batch of embeddings: triplet (online semi-hard) and contrastive.

Both work on whatever identities are in the batch, so batches must hold several images per
identity (see :class:`lockers.training.sampling.BatchPlan` with ``images_per_identity``).
Embeddings are L2-normalised here, as the kiosk compares normalised embeddings.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def squared_distances(embeddings: torch.Tensor) -> torch.Tensor:
    """Pairwise squared Euclidean distances ``(n, n)`` between rows of ``(n, d)``, clamped ≥ 0."""
    sq = (embeddings * embeddings).sum(dim=1)
    dist = sq[:, None] - 2.0 * embeddings @ embeddings.t() + sq[None, :]
    return dist.clamp_min(0.0)


class TripletSemiHardLoss(nn.Module):
    """FaceNet triplet loss with online semi-hard negative mining.

    For every anchor-positive pair (a, p) in the batch the negative is the closest n with
    ``d(a,p) < d(a,n)`` (semi-hard: farther than the positive but possibly inside the margin);
    if no negative is farther than the positive, the farthest negative is used. Loss per pair is
    ``max(d(a,p) - d(a,n) + margin, 0)`` with squared distances on normalised embeddings, averaged
    over all anchor-positive pairs. A batch without any positive pair gives a zero loss that still
    carries a graph (so DDP sees every parameter used).
    """

    def __init__(self, margin: float = 0.2) -> None:
        super().__init__()
        self.margin = float(margin)

    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        emb = F.normalize(embeddings.float(), dim=1)
        dist = squared_distances(emb)
        same = labels[:, None] == labels[None, :]
        eye = torch.eye(len(labels), dtype=torch.bool, device=labels.device)
        positive = same & ~eye
        negative = ~same
        if not positive.any() or not negative.any():
            return emb.sum() * 0.0
        anchors, positives = positive.nonzero(as_tuple=True)
        d_ap = dist[anchors, positives]  # (pairs,)
        d_an = dist[anchors]  # (pairs, n)
        neg = negative[anchors]
        inf = torch.tensor(float("inf"), device=dist.device)
        semi_hard = neg & (d_an > d_ap[:, None])
        closest_farther = torch.where(semi_hard, d_an, inf).min(dim=1).values
        farthest = torch.where(neg, d_an, -inf).max(dim=1).values
        chosen = torch.where(semi_hard.any(dim=1), closest_farther, farthest)
        return F.relu(d_ap - chosen + self.margin).mean()


class ContrastiveLoss(nn.Module):
    """Contrastive loss over every pair i < j in the batch (Hadsell et al. 2006).

    ``y·d² + (1-y)·max(0, margin - d)²`` with Euclidean ``d`` on normalised embeddings and
    ``y = 1`` for the same identity, averaged over pairs and halved.
    """

    def __init__(self, margin: float = 1.0) -> None:
        super().__init__()
        self.margin = float(margin)

    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        emb = F.normalize(embeddings.float(), dim=1)
        n = len(labels)
        if n < 2:
            return emb.sum() * 0.0
        i, j = torch.triu_indices(n, n, offset=1, device=emb.device)
        d_sq = ((emb[i] - emb[j]) ** 2).sum(dim=1)
        # sqrt at 0 has an infinite gradient; the epsilon only matters for identical embeddings.
        d = torch.sqrt(d_sq + 1e-12)
        same = (labels[i] == labels[j]).to(emb.dtype)
        per_pair = same * d_sq + (1.0 - same) * F.relu(self.margin - d) ** 2
        return 0.5 * per_pair.mean()
