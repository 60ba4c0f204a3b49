"""The network being trained: InceptionResnetV1 (the kiosk's model) or a tiny CNN for tests.

Both map ``(n, 3, s, s)`` float images, standardised as ``(x - 127.5) / 128`` (facenet-pytorch's
``fixed_image_standardization``, which the kiosk's embedder applies too), to *unnormalised*
embeddings ``(n, d)``; the losses normalise where they need to, and the kiosk L2-normalises.
"""

from __future__ import annotations

import hashlib
import itertools
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from lockers.errors import WeightsError
from lockers.training.recipe import BACKBONE_BLOCKS, TrainRecipe


def standardise(images_uint8: torch.Tensor) -> torch.Tensor:
    """``(n, 3, h, w)`` uint8 RGB → float32 ``(x - 127.5) / 128``."""
    return (images_uint8.float() - 127.5) / 128.0


class TinyCnn(nn.Module):
    """Four conv layers and a linear layer: seconds per epoch on a CPU, for tests and smoke runs.

    No batch norm or dropout, so results do not depend on how a batch is split across processes.
    """

    def __init__(self, embedding_dim: int = 64) -> None:
        super().__init__()
        widths = (3, 16, 32, 64, 64)
        layers: list[nn.Module] = []
        for c_in, c_out in itertools.pairwise(widths):
            layers += [nn.Conv2d(c_in, c_out, 3, stride=2, padding=1), nn.ReLU(inplace=True)]
        self.features = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.last_linear = nn.Linear(widths[-1], embedding_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.last_linear(self.features(x))


def build_backbone(recipe: TrainRecipe) -> nn.Module:
    """A freshly initialised backbone for ``recipe`` (no download, ever).

    With ``recipe.groupface`` it is a :class:`lockers.vision.groupface.GroupFaceNetwork` (its
    group block zero-initialised, so that VGGFace2 weights loaded into it give the pretrained
    network's embeddings at step 0); its forward returns the *normalised* embedding, which the
    margin heads (the only losses GroupFace is trained with) normalise anyway.
    """
    if recipe.backbone == "tiny_cnn":
        return TinyCnn(recipe.embedding_dim)
    if recipe.groupface is not None:
        from lockers.vision.groupface import GroupFaceNetwork

        options = recipe.groupface
        return GroupFaceNetwork(
            options.groups, options.gdn_hidden, options.aggregation, dropout_prob=recipe.dropout
        )
    from facenet_pytorch import InceptionResnetV1

    model = InceptionResnetV1(pretrained=None, classify=False, dropout_prob=recipe.dropout)
    # classify=True with an identity "classifier" returns last_bn's output without the final
    # L2 normalisation, which softmax needs; the state_dict stays the kiosk's (no logits.*).
    model.classify = True
    model.logits = nn.Identity()
    return model


@dataclass(frozen=True)
class InitialWeights:
    """Backbone weights to start from, and where they came from (for the model card)."""

    state_dict: dict[str, torch.Tensor]
    sha256: str
    model_version: str
    source: str


def read_initial_weights(path: Path) -> InitialWeights:
    """Backbone weights from a facenet-pytorch/kiosk weights file or a training checkpoint.

    Uses ``lockers.vision.modelstore.load_weights`` (the kiosk's verified loader) when it exists,
    so training starts from exactly what the kiosk would load; ``logits.*`` keys are dropped.

    Raises:
        WeightsError: the file is missing or is not a state_dict.
    """
    path = Path(path)
    if not path.is_file():
        raise WeightsError(
            f"weights file {path} does not exist",
            hint="run `lockers models download`, or pass --from-scratch",
        )
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a bad file
        raise WeightsError(f"cannot read weights {path}: {exc}", hint="re-download it") from None
    if isinstance(checkpoint, dict) and "backbone" in checkpoint and "recipe" in checkpoint:
        state = checkpoint["backbone"]
        version = str(checkpoint.get("model_version", path.stem))
    else:
        state, version = _kiosk_weights(path, checkpoint)
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise WeightsError(f"{path} does not hold a state_dict of tensors")
    state = {k: v for k, v in state.items() if not k.startswith("logits.")}
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return InitialWeights(state, digest, version, str(path))


def _kiosk_weights(path: Path, raw: object) -> tuple[object, str]:
    try:
        from lockers.vision.modelstore import load_weights
    except ImportError:
        return raw, path.stem
    loaded = load_weights(path)
    return dict(loaded.state_dict), str(loaded.model_version)


def load_backbone_weights(model: nn.Module, weights: InitialWeights) -> None:
    """Load ``weights`` into ``model`` strictly (every key must match).

    One exception: plain InceptionResnetV1 weights (VGGFace2) go into a GroupFace network with
    its ``groupface.*`` block left as built (zero-initialised).

    Raises:
        WeightsError: missing or unexpected keys, or shape mismatches.
    """
    from lockers.vision.modelstore import GROUPFACE_PREFIX

    expects_block = any(k.startswith(GROUPFACE_PREFIX) for k in model.state_dict())
    has_block = any(k.startswith(GROUPFACE_PREFIX) for k in weights.state_dict)
    if has_block and not expects_block:
        raise WeightsError(
            f"weights from {weights.source} carry a GroupFace block (groupface.*), which this "
            "recipe has no place for",
            hint="add a groupface section to the recipe (or --groupface K), or start from plain "
            "InceptionResnetV1 weights",
        )
    try:
        if expects_block and not has_block:
            missing, unexpected = model.load_state_dict(weights.state_dict, strict=False)
            missing = [k for k in missing if not k.startswith(GROUPFACE_PREFIX)]
            if missing or unexpected:
                raise RuntimeError(f"missing keys {missing[:5]}, unexpected keys {unexpected[:5]}")
        else:
            model.load_state_dict(weights.state_dict, strict=True)
    except RuntimeError as exc:
        raise WeightsError(
            f"weights from {weights.source} do not fit the backbone: {str(exc)[:400]}",
            hint="use InceptionResnetV1 weights (VGGFace2) or a checkpoint of the same recipe",
        ) from None


def frozen_blocks(recipe: TrainRecipe) -> tuple[str, ...]:
    """Backbone blocks that ``recipe.train_from`` freezes (forward order)."""
    if recipe.train_from is None:
        return ()
    return BACKBONE_BLOCKS[: BACKBONE_BLOCKS.index(recipe.train_from)]


def set_frozen(model: nn.Module, blocks: tuple[str, ...]) -> None:
    """Freeze exactly ``blocks`` (no gradient) and unfreeze every other parameter."""
    frozen = set(blocks)
    for name, param in model.named_parameters():
        param.requires_grad_(name.split(".", 1)[0] not in frozen)


def eval_frozen(model: nn.Module, blocks: tuple[str, ...]) -> None:
    """Put frozen blocks in eval mode, so their batch-norm statistics stay the pretrained ones."""
    for name in blocks:
        getattr(model, name).eval()
