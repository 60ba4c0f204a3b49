"""Margin heads against hand-computed logits; every loss lowers over a few CPU steps."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from lockers.training.heads import ArcFaceHead, CosFaceHead, SoftmaxHead, SphereFaceHead
from lockers.training.objectives import ALL_LOSSES, build_objective
from lockers.training.pair_losses import ContrastiveLoss, TripletSemiHardLoss


def _unit(deg: float) -> list[float]:
    return [math.cos(math.radians(deg)), math.sin(math.radians(deg))]


def _set_centres(head: nn.Module, degrees: list[float]) -> None:
    with torch.no_grad():
        head.weight.copy_(torch.tensor([_unit(d) for d in degrees]))


X = torch.tensor([[1.0, 0.0]])  # embedding at 0°
LABEL = torch.tensor([0])


def test_cosface_subtracts_margin_from_target_cosine_only() -> None:
    head = CosFaceHead(2, 2, scale=2.0, margin=0.35)
    _set_centres(head, [60.0, 90.0])  # cosines 0.5 and 0
    logits = head(X, LABEL)
    assert logits.tolist()[0] == pytest.approx([2 * (0.5 - 0.35), 0.0], abs=1e-6)


def test_arcface_adds_angle_to_target() -> None:
    head = ArcFaceHead(2, 2, scale=2.0, margin=0.5)
    _set_centres(head, [60.0, 90.0])
    logits = head(X, LABEL)
    expected = 2 * math.cos(math.pi / 3 + 0.5)  # cos(60° + 0.5 rad) = 0.02359
    assert logits.tolist()[0] == pytest.approx([expected, 0.0], abs=1e-5)
    loss = F.cross_entropy(logits, LABEL)
    assert loss.item() == pytest.approx(-math.log(math.exp(expected) / (math.exp(expected) + 1)))


def test_arcface_beyond_pi_uses_linear_continuation() -> None:
    # θ = 170°, m = 0.5 rad: θ + m > π, where cos(θ + m) would rise again.
    head = ArcFaceHead(2, 1, scale=1.0, margin=0.5)
    _set_centres(head, [170.0])
    cos = math.cos(math.radians(170.0))
    expected = cos - math.sin(math.pi - 0.5) * 0.5
    assert head(X, LABEL).item() == pytest.approx(expected, abs=1e-5)
    assert expected < math.cos(math.radians(170.0) + 0.5)  # monotonic, unlike cos(θ+m)


def test_arcface_easy_margin_skips_obtuse_angles() -> None:
    head = ArcFaceHead(2, 1, scale=1.0, margin=0.5, easy_margin=True)
    _set_centres(head, [170.0])
    assert head(X, LABEL).item() == pytest.approx(math.cos(math.radians(170.0)), abs=1e-6)
    _set_centres(head, [60.0])
    assert head(X, LABEL).item() == pytest.approx(math.cos(math.pi / 3 + 0.5), abs=1e-5)


def test_arcface_target_logit_is_monotonic_in_angle() -> None:
    head = ArcFaceHead(2, 1, scale=1.0, margin=0.5)
    angles = torch.linspace(0, math.pi, 181)
    values = head.target_logit(torch.cos(angles))
    assert torch.all(values[1:] <= values[:-1] + 1e-6)


def test_sphereface_psi_hand_values() -> None:
    head = SphereFaceHead(2, 2, scale=1.0, margin=4)
    _set_centres(head, [60.0, 90.0])
    # θ = 60°: 4θ = 240°, k = 1 → ψ = -cos(240°) - 2 = -1.5
    assert head(X, LABEL).tolist()[0] == pytest.approx([-1.5, 0.0], abs=1e-5)
    angles = torch.linspace(0.001, math.pi - 0.001, 200)
    psi = head.target_logit(torch.cos(angles))
    assert torch.all(psi[1:] <= psi[:-1] + 1e-5)


def test_softmax_head_is_linear() -> None:
    head = SoftmaxHead(2, 3)
    assert head(X, LABEL).shape == (1, 3)


def test_triplet_semi_hard_hand_value() -> None:
    # e0, e1 same person (d² = 2), e2 another. Pair (0,1): e2 at d² 4 > 2 is semi-hard, loss 0.
    # Pair (1,0): e2 at d² 2 is not farther than the positive, so the farthest (2) → 0.2.
    emb = torch.tensor([_unit(0), _unit(90), _unit(180)])
    loss = TripletSemiHardLoss(margin=0.2)(emb, torch.tensor([0, 0, 1]))
    assert loss.item() == pytest.approx(0.1, abs=1e-6)


def _triplet_reference(emb: torch.Tensor, labels: list[int], margin: float) -> float:
    emb = F.normalize(emb, dim=1)
    d = torch.cdist(emb, emb) ** 2
    losses = []
    for a in range(len(labels)):
        for p in range(len(labels)):
            if a == p or labels[a] != labels[p]:
                continue
            negs = [float(d[a, n]) for n in range(len(labels)) if labels[n] != labels[a]]
            farther = [x for x in negs if x > d[a, p]]
            chosen = min(farther) if farther else max(negs)
            losses.append(max(float(d[a, p]) - chosen + margin, 0.0))
    return sum(losses) / len(losses)


def test_triplet_matches_loop_reference() -> None:
    gen = torch.Generator().manual_seed(3)
    emb = torch.randn(12, 5, generator=gen)
    labels = [0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3]
    got = TripletSemiHardLoss(0.3)(emb, torch.tensor(labels)).item()
    assert got == pytest.approx(_triplet_reference(emb, labels, 0.3), abs=1e-5)


def test_contrastive_hand_value() -> None:
    emb = torch.tensor([_unit(0), _unit(90), _unit(180)])
    loss = ContrastiveLoss(margin=1.0)(emb, torch.tensor([0, 0, 1]))
    # pairs: (0,1) same d²=2 → 2; (0,2) diff d=2 → 0; (1,2) diff d=√2 → 0; ½·mean = 1/3
    assert loss.item() == pytest.approx(1 / 3, abs=1e-6)


def test_pair_losses_without_positives_are_zero_with_graph() -> None:
    emb = torch.randn(3, 4, requires_grad=True)
    loss = TripletSemiHardLoss()(emb, torch.tensor([0, 1, 2]))
    loss.backward()
    assert loss.item() == 0.0


def test_unknown_loss_and_bad_params_are_clear() -> None:
    with pytest.raises(ValueError, match="unknown loss"):
        build_objective("focal", 4, 2)
    with pytest.raises(ValueError, match="bad parameters"):
        build_objective("arcface", 4, 2, {"m": 0.5})


def _clustered(n_classes: int = 4, per_class: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    centres = torch.randn(n_classes, 16, generator=gen) * 2
    labels = torch.arange(n_classes).repeat_interleave(per_class)
    x = centres[labels] + 0.5 * torch.randn(len(labels), 16, generator=gen)
    return x, labels


PARAMS = {
    "arcface": {"scale": 16.0, "margin": 0.3},
    "cosface": {"scale": 16.0, "margin": 0.2},
    "sphereface": {"scale": 8.0, "margin": 2},
}


@pytest.mark.parametrize("name", ALL_LOSSES)
def test_every_loss_lowers_over_a_few_steps(name: str) -> None:
    torch.manual_seed(0)
    x, labels = _clustered()
    net = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 8))
    objective = build_objective(name, 8, 4, PARAMS.get(name, {}))
    opt = torch.optim.Adam([*net.parameters(), *objective.parameters()], lr=0.01)
    losses = []
    for _ in range(30):
        opt.zero_grad()
        loss, _ = objective(net(x), labels)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.7 * losses[0], losses
