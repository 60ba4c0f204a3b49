"""GroupFace (Kim et al., CVPR 2020) on top of InceptionResnetV1.

GroupFace adds *group-aware* representations to a face embedding. A group decision network
(GDN) assigns each face softly to one of ``K`` latent groups, and each group has its own
projection of the instance representation::

    v       = InceptionResnetV1 last_bn output             (n, 512), before L2 normalisation
    p       = softmax(GDN(v))                              (n, K)    group probabilities
    g_k     = W_k v + b_k                                  (n, 512)  one per group
    final   = v + Σ_k p_k g_k        ("soft", the paper's default)
            = v + g_argmax(p)        ("hard")
    output  = final / ||final||                            (n, 512)  what the kiosk compares

Why the 512-d ``last_bn`` output as the instance representation and as the input of the group
projections, rather than the 1792-d pooled feature the paper's layout would suggest: the
VGGFace2 network's own forward and weights stay untouched (no copy of facenet-pytorch's forward,
no hook), so a zero block reproduces the plain network *exactly*; and K group projections of
512 → 512 cost K·0.26 M parameters (8.4 M for K = 32) instead of K·0.92 M (29 M, more than the
23.5 M of the backbone itself), which matters for a weights file copied to kiosks and for
fine-tuning on a site's few hundred people, where extra capacity mostly over-fits.

The weights file of a GroupFace network is the plain InceptionResnetV1 state_dict plus these
``groupface.*`` keys (``K`` groups, ``H`` hidden units in the GDN, ``D`` = 512):

===============================  ============  ============================================
key                              shape         meaning
===============================  ============  ============================================
``groupface.group_weight``       (K, D, D)     the K group projections W_k (one grouped FC)
``groupface.group_bias``         (K, D)        their biases b_k
``groupface.gdn.0.weight/bias``  (H, D), (H,)  GDN hidden layer (ReLU after it)
``groupface.gdn.2.weight/bias``  (K, H), (K,)  GDN output: group logits
``groupface.aggregation_code``   () int64      0 = soft, 1 = hard
===============================  ============  ============================================

torch and facenet-pytorch are imported by this module: import it only where a network is built.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal, NamedTuple

import torch
import torch.nn.functional as F
from facenet_pytorch import InceptionResnetV1
from torch import nn

from lockers.vision.types import EMBEDDING_DIM

GROUPFACE_PREFIX = "groupface."
DEFAULT_GROUPS = 32
DEFAULT_GDN_HIDDEN = 256
Aggregation = Literal["soft", "hard"]
AGGREGATION_CODES: dict[str, int] = {"soft": 0, "hard": 1}


class GroupFaceOutput(NamedTuple):
    """What the network returns with ``return_groups=True``.

    ``embedding``: ``(n, 512)`` float, L2-normalised (what the kiosk uses);
    ``group_logits``: ``(n, K)`` float, the GDN's scores before softmax (for the grouping loss).
    """

    embedding: torch.Tensor
    group_logits: torch.Tensor

    @property
    def group_probs(self) -> torch.Tensor:
        """``(n, K)`` group probabilities p(G_k | x); each row sums to 1."""
        return F.softmax(self.group_logits.float(), dim=1)


class GroupFaceBlock(nn.Module):
    """Instance representation ``(n, D)`` → (final representation ``(n, D)``, group logits
    ``(n, K)``); neither output is normalised.

    The group projections start at zero (see :meth:`reset_parameters`), so a new block returns
    its input unchanged.

    Raises:
        ValueError: ``groups < 2``, ``hidden < 1`` or an unknown ``aggregation``.
    """

    def __init__(
        self,
        dim: int = EMBEDDING_DIM,
        groups: int = DEFAULT_GROUPS,
        hidden: int = DEFAULT_GDN_HIDDEN,
        aggregation: Aggregation = "soft",
    ) -> None:
        super().__init__()
        if groups < 2:
            raise ValueError(f"GroupFace needs at least 2 groups, got {groups}")
        if hidden < 1:
            raise ValueError(f"the group decision network needs >= 1 hidden unit, got {hidden}")
        if aggregation not in AGGREGATION_CODES:
            raise ValueError(f"aggregation must be 'soft' or 'hard', got {aggregation!r}")
        self.dim, self.groups, self.hidden = dim, groups, hidden
        self.aggregation: Aggregation = aggregation
        # One grouped FC (a (K, D, D) tensor) rather than K nn.Linear: one matmul for all groups,
        # and a weights file whose block is checked through two tensors.
        self.group_weight = nn.Parameter(torch.empty(groups, dim, dim))
        self.group_bias = nn.Parameter(torch.empty(groups, dim))
        self.gdn = nn.Sequential(nn.Linear(dim, hidden), nn.ReLU(), nn.Linear(hidden, groups))
        # Carried in the state_dict so that a weights file says how it aggregates: the kiosk
        # builds the network from the file alone.
        self.register_buffer(
            "aggregation_code", torch.tensor(AGGREGATION_CODES[aggregation], dtype=torch.int64)
        )
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Zero group projections, default-initialised GDN.

        Zero projections make ``final == instance``: a block added to VGGFace2 weights starts as
        the pretrained network, so fine-tuning begins at its verification accuracy instead of
        from an embedding disturbed by K random projections (as large as the embedding itself),
        and the block grows only as far as the losses ask (the idea of zero-initialised residual
        branches). Their gradient ``p_k · v`` is not zero, so they do learn. The GDN keeps a
        random init: with all-zero logits every face would get the same group and the grouping
        loss could not tell groups apart.
        """
        nn.init.zeros_(self.group_weight)
        nn.init.zeros_(self.group_bias)
        for layer in self.gdn:
            if isinstance(layer, nn.Linear):
                layer.reset_parameters()

    def forward(self, instance: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        n, d = instance.shape
        group_logits = self.gdn(instance)
        weight = self.group_weight.to(instance.dtype)
        # (n, D) @ (D, K*D) → (n, K, D): every group projection of every face in one matmul.
        projected = instance @ weight.reshape(self.groups * d, d).t()
        group_reprs = projected.reshape(n, self.groups, d) + self.group_bias.to(instance.dtype)
        probs = F.softmax(group_logits, dim=1)
        if self.aggregation == "hard":
            chosen = probs.argmax(dim=1, keepdim=True)
            probs = torch.zeros_like(probs).scatter(1, chosen, 1.0)
        final = instance + (probs.unsqueeze(2) * group_reprs).sum(dim=1)
        return final, group_logits


class GroupFaceNetwork(InceptionResnetV1):
    """``InceptionResnetV1(classify=False)`` plus a :class:`GroupFaceBlock` on its 512-d output.

    Input: ``(n, 3, s, s)`` float images standardised as ``(x - 127.5) / 128`` (s = 160 on the
    kiosk). ``forward(x)`` returns the ``(n, 512)`` L2-normalised embedding, exactly like the
    plain network, so the kiosk's torch and ONNX back-ends use it unchanged;
    ``forward(x, return_groups=True)`` returns a :class:`GroupFaceOutput` for training.

    The state_dict is the plain network's keys (no prefix: a VGGFace2 file loads into it with
    only ``groupface.*`` missing) plus the block's ``groupface.*`` keys.
    """

    def __init__(
        self,
        groups: int = DEFAULT_GROUPS,
        gdn_hidden: int = DEFAULT_GDN_HIDDEN,
        aggregation: Aggregation = "soft",
        dropout_prob: float = 0.6,
    ) -> None:
        super().__init__(pretrained=None, classify=False, dropout_prob=dropout_prob)
        # classify=True with an identity "classifier" makes the parent's forward return last_bn's
        # output without its final L2 normalisation; Identity has no state, so the keys stay
        # those of InceptionResnetV1(classify=False).
        self.classify = True
        self.logits = nn.Identity()
        self.groupface = GroupFaceBlock(EMBEDDING_DIM, groups, gdn_hidden, aggregation)

    def instance_representation(self, x: torch.Tensor) -> torch.Tensor:
        """``(n, 512)`` last_bn output of the backbone, not normalised."""
        return super().forward(x)

    def forward(  # type: ignore[override]
        self, x: torch.Tensor, return_groups: bool = False
    ) -> torch.Tensor | GroupFaceOutput:
        final, group_logits = self.groupface(self.instance_representation(x))
        embedding = F.normalize(final, p=2, dim=1)
        if return_groups:
            return GroupFaceOutput(embedding, group_logits)
        return embedding


def block_settings(state_dict: Mapping[str, torch.Tensor]) -> tuple[int, int, Aggregation]:
    """``(groups K, GDN hidden units H, aggregation)`` read from a *verified* block's tensors."""
    groups = int(state_dict[f"{GROUPFACE_PREFIX}group_weight"].shape[0])
    hidden = int(state_dict[f"{GROUPFACE_PREFIX}gdn.0.weight"].shape[0])
    code = int(state_dict[f"{GROUPFACE_PREFIX}aggregation_code"].item())
    aggregation: Aggregation = "hard" if code == AGGREGATION_CODES["hard"] else "soft"
    return groups, hidden, aggregation


def block_architecture(groups: int, hidden: int) -> dict[str, tuple[tuple[int, ...], bool]]:
    """``groupface.*`` key → (shape, is floating point) for a block of ``groups`` and ``hidden``.

    Built from the module itself on the meta device (no memory, no init), so the check in
    :mod:`lockers.vision.modelstore` can never drift from the module.
    """
    with torch.device("meta"):
        block = GroupFaceBlock(EMBEDDING_DIM, groups, hidden)
    return {
        GROUPFACE_PREFIX + key: (tuple(t.shape), t.is_floating_point())
        for key, t in block.state_dict().items()
    }


def build_groupface_network(state_dict: Mapping[str, torch.Tensor]) -> GroupFaceNetwork:
    """A :class:`GroupFaceNetwork` in eval mode with a verified ``state_dict`` loaded strictly."""
    groups, hidden, aggregation = block_settings(state_dict)
    net = GroupFaceNetwork(groups, hidden, aggregation)
    net.load_state_dict(dict(state_dict), strict=True)
    return net.eval()
