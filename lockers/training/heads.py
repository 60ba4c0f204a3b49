"""Classification heads for face-embedding training: softmax, CosFace, ArcFace, SphereFace.

Each head maps embeddings ``(n, d)`` float and integer labels ``(n,)`` to logits ``(n, classes)``
that go into ordinary cross-entropy. The margin heads compare the L2-normalised embedding with
L2-normalised class centres (cosines in [-1, 1]), apply their margin to the target class only, and
scale by ``s``. The head is thrown away after training; only the backbone is exported.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class SoftmaxHead(nn.Module):
    """Plain linear classifier (the facenet-pytorch fine-tuning baseline)."""

    def __init__(self, embedding_dim: int, num_classes: int) -> None:
        super().__init__()
        self.fc = nn.Linear(embedding_dim, num_classes)

    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Logits ``(n, classes)``; ``labels`` are unused (kept for one head signature)."""
        del labels
        return self.fc(embeddings)


class CosineHead(nn.Module):
    """Shared part of the margin heads: class centres and the cosine matrix."""

    def __init__(self, embedding_dim: int, num_classes: int, scale: float) -> None:
        super().__init__()
        if scale <= 0:
            raise ValueError(f"scale s must be > 0, got {scale}")
        self.scale = float(scale)
        self.weight = nn.Parameter(torch.empty(num_classes, embedding_dim))
        nn.init.xavier_uniform_(self.weight)

    def cosines(self, embeddings: torch.Tensor) -> torch.Tensor:
        """Cosine of every embedding with every class centre, ``(n, classes)``, in float32."""
        # Margin arithmetic near cos = ±1 loses too much in half precision.
        emb = F.normalize(embeddings.float(), dim=1)
        centres = F.normalize(self.weight.float(), dim=1)
        return (emb @ centres.t()).clamp(-1.0, 1.0)


class CosFaceHead(CosineHead):
    """CosFace / large-margin cosine loss: target logit ``s * (cos θ - m)``."""

    def __init__(
        self, embedding_dim: int, num_classes: int, scale: float = 64.0, margin: float = 0.35
    ) -> None:
        super().__init__(embedding_dim, num_classes, scale)
        self.margin = float(margin)

    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        cos = self.cosines(embeddings)
        one_hot = F.one_hot(labels, cos.shape[1]).to(cos.dtype)
        return self.scale * (cos - self.margin * one_hot)


class ArcFaceHead(CosineHead):
    """ArcFace / additive angular margin: target logit ``s * cos(θ + m)``.

    ``cos(θ + m)`` stops decreasing once ``θ + m > π``, which would reward pushing a sample
    *further* from its class. Two standard fixes:

    - ``easy_margin=True``: apply the margin only where ``cos θ > 0`` (θ < 90°), else use ``cos θ``;
    - default: where ``θ > π - m`` use the linear continuation ``cos θ - m·sin(m)``, which keeps
      the target logit monotonic in θ (the InsightFace formulation).
    """

    def __init__(
        self,
        embedding_dim: int,
        num_classes: int,
        scale: float = 64.0,
        margin: float = 0.5,
        easy_margin: bool = False,
    ) -> None:
        super().__init__(embedding_dim, num_classes, scale)
        if not 0.0 <= margin < math.pi / 2:
            raise ValueError(f"ArcFace margin must be in [0, π/2) radians, got {margin}")
        self.margin = float(margin)
        self.easy_margin = easy_margin
        self._cos_m = math.cos(margin)
        self._sin_m = math.sin(margin)
        self._threshold = math.cos(math.pi - margin)  # cos θ below this means θ + m > π
        self._linear_drop = math.sin(math.pi - margin) * margin

    def target_logit(self, cos: torch.Tensor) -> torch.Tensor:
        """``cos(θ + m)`` with the θ + m > π handling, before scaling."""
        sin = torch.sqrt((1.0 - cos * cos).clamp_min(0.0))
        phi = cos * self._cos_m - sin * self._sin_m
        if self.easy_margin:
            return torch.where(cos > 0, phi, cos)
        return torch.where(cos > self._threshold, phi, cos - self._linear_drop)

    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        cos = self.cosines(embeddings)
        one_hot = F.one_hot(labels, cos.shape[1]).to(torch.bool)
        return self.scale * torch.where(one_hot, self.target_logit(cos), cos)


class SphereFaceHead(CosineHead):
    """SphereFace / multiplicative angular margin on normalised features.

    Target logit ``s * ψ(θ)`` with ``ψ(θ) = (-1)^k cos(mθ) - 2k`` for ``θ ∈ [kπ/m, (k+1)π/m]``,
    which is monotonically decreasing over [0, π]. ``m`` is an integer (the paper uses 4). The
    original's λ-annealing softmax blend is left out; feature normalisation plus ``s`` keeps
    training stable instead (as in NormFace / SphereFace-R).
    """

    def __init__(
        self, embedding_dim: int, num_classes: int, scale: float = 30.0, margin: int = 4
    ) -> None:
        super().__init__(embedding_dim, num_classes, scale)
        if int(margin) != margin or margin < 1:
            raise ValueError(f"SphereFace margin must be a positive integer, got {margin}")
        self.margin = int(margin)

    def target_logit(self, cos: torch.Tensor) -> torch.Tensor:
        """``ψ(θ)`` before scaling."""
        theta = torch.acos(cos.clamp(-1.0 + 1e-7, 1.0 - 1e-7))
        k = torch.floor(self.margin * theta / math.pi)
        sign = 1.0 - 2.0 * torch.remainder(k, 2.0)
        return sign * torch.cos(self.margin * theta) - 2.0 * k

    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        cos = self.cosines(embeddings)
        one_hot = F.one_hot(labels, cos.shape[1]).to(torch.bool)
        return self.scale * torch.where(one_hot, self.target_logit(cos), cos)


HEADS: dict[str, type[nn.Module]] = {
    "softmax": SoftmaxHead,
    "cosface": CosFaceHead,
    "arcface": ArcFaceHead,
    "sphereface": SphereFaceHead,
}
