"""What an embedding weights file must be: the InceptionResnetV1 architecture (keys, shapes,
finite floating-point tensors), optionally with a well-formed GroupFace block; the model version
named after the architecture and the file's hash."""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from lockers.errors import WeightsError
from lockers.vision.modelstore.statedict import OPTIONAL_SUFFIX, listing, tensor_problems

if TYPE_CHECKING:
    import torch

LOGITS_PREFIX = "logits."
# GroupFace (lockers.vision.groupface): an optional block on top of the plain network.
GROUPFACE_PREFIX = "groupface."
PLAIN_ARCHITECTURE = "inception_resnet_v1"
GROUPFACE_ARCHITECTURE = "inception_resnet_v1+groupface"


@lru_cache(maxsize=1)
def expected_architecture() -> Mapping[str, tuple[tuple[int, ...], bool]]:
    """Keys of ``InceptionResnetV1(classify=False).state_dict()`` → (shape, is floating point).

    Built on the meta device: no memory for parameters, no random init, no download.
    """
    import torch
    from facenet_pytorch import InceptionResnetV1

    with torch.device("meta"):
        model = InceptionResnetV1(pretrained=None, classify=False)
    return {
        key: (tuple(tensor.shape), tensor.is_floating_point())
        for key, tensor in model.state_dict().items()
    }


def default_model_version(sha256: str, architecture: str = PLAIN_ARCHITECTURE) -> str:
    """The version name of a file nobody named: architecture plus a content-hash prefix
    (``irv1-…``, or ``irv1gf-…`` for GroupFace weights)."""
    prefix = "irv1gf" if architecture == GROUPFACE_ARCHITECTURE else "irv1"
    return f"{prefix}-{sha256[:12]}"


def verify_state_dict(
    state_dict: Mapping[str, Any], *, origin: str = "the weights"
) -> dict[str, torch.Tensor]:
    """Check ``state_dict`` against the InceptionResnetV1 architecture.

    Two architectures are accepted: exactly the plain network, or the plain network plus a
    well-formed GroupFace block (``groupface.*`` keys, consistent with some number of groups K;
    see :mod:`lockers.vision.groupface`).

    Args:
        state_dict: key → tensor, as ``torch.load`` returns it.
        origin: where it came from (a path or URL), used in the error message.

    Returns:
        The same tensors without ``logits.*`` keys; a missing BatchNorm ``num_batches_tracked``
        counter is filled with 0, as PyTorch itself does for old checkpoints.

    Raises:
        WeightsError: a key missing, an unexpected key other than ``logits.*``, a shape or
            dtype that differs, or a tensor holding NaN/inf; the message names (up to five of)
            the keys of each kind. A malformed ``groupface.*`` block gets its own message.
    """
    import torch

    expected = expected_architecture()
    not_tensors = [k for k, v in state_dict.items() if not isinstance(v, torch.Tensor)]
    if not_tensors:
        raise WeightsError(
            f"{origin} is not a state_dict: {listing(not_tensors)} are not tensors",
            hint=ARCHITECTURE_HINT,
        )
    kept: dict[str, torch.Tensor] = {}
    block: dict[str, torch.Tensor] = {}
    unexpected: list[str] = []
    for key, tensor in state_dict.items():
        if key in expected:
            kept[key] = tensor
        elif key.startswith(GROUPFACE_PREFIX):
            block[key] = tensor
        elif not key.startswith(LOGITS_PREFIX):
            unexpected.append(key)
    missing: list[str] = []
    for key, (_shape, floating) in expected.items():
        if key in kept:
            continue
        if key.endswith(OPTIONAL_SUFFIX) and not floating:
            kept[key] = torch.tensor(0, dtype=torch.long)
        else:
            missing.append(key)
    # Integer buffers (BatchNorm counters) are not held to their dtype: old exports vary.
    problems = tensor_problems(kept, expected, missing, unexpected, exact_dtype=False)
    if problems:
        raise WeightsError(
            f"{origin} does not fit InceptionResnetV1 (classify=False): " + "; ".join(problems),
            hint=ARCHITECTURE_HINT,
        )
    if block:
        kept.update(_verify_groupface_block(block, origin=origin))
    return kept


def _verify_groupface_block(
    block: Mapping[str, torch.Tensor], *, origin: str
) -> dict[str, torch.Tensor]:
    """Check the ``groupface.*`` tensors against a GroupFace block of *some* K groups.

    K and the GDN's hidden width are read from ``groupface.group_weight`` and
    ``groupface.gdn.0.weight``; every other tensor must agree with them.

    Raises:
        WeightsError: K cannot be read, a key is missing or unexpected, a shape or dtype
            differs, a value is NaN/inf, or the aggregation code is not 0 (soft) or 1 (hard).
    """
    from lockers.vision.groupface import AGGREGATION_CODES, block_architecture

    def size(key: str, rank: int, dim: int) -> int | None:
        tensor = block.get(GROUPFACE_PREFIX + key)
        if tensor is None or tensor.dim() != rank:
            return None
        return int(tensor.shape[dim])

    groups = size("group_weight", 3, 0)
    hidden = size("gdn.0.weight", 2, 0)
    what = f"{origin} has a GroupFace block (groupface.*) that is malformed"
    if groups is None or hidden is None or groups < 2 or hidden < 1:
        raise WeightsError(
            f"{what}: the number of groups K must come from groupface.group_weight "
            f"[K, 512, 512] with K >= 2, and the GDN width from groupface.gdn.0.weight "
            f"[H, 512]; found {_shape_of(block, 'group_weight')} and "
            f"{_shape_of(block, 'gdn.0.weight')}",
            hint=_GROUPFACE_HINT,
        )
    expected = block_architecture(groups, hidden)
    missing = [k for k in expected if k not in block]
    unexpected = [k for k in block if k not in expected]
    bad_values: list[str] = []
    code_key = GROUPFACE_PREFIX + "aggregation_code"
    code = block.get(code_key)
    if code is not None and code.dim() == 0 and not code.is_floating_point():
        value = int(code.item())
        if value not in AGGREGATION_CODES.values():
            bad_values.append(f"{code_key} is {value} (expected 0 = soft or 1 = hard)")
    problems = tensor_problems(
        block, expected, missing, unexpected, exact_dtype=True, bad_values=bad_values
    )
    if problems:
        raise WeightsError(
            f"{what} (K={groups} groups, {hidden}-unit group decision network): "
            + "; ".join(problems),
            hint=_GROUPFACE_HINT,
        )
    return dict(block)


def _shape_of(block: Mapping[str, torch.Tensor], key: str) -> str:
    tensor = block.get(GROUPFACE_PREFIX + key)
    return "nothing" if tensor is None else f"{GROUPFACE_PREFIX}{key} {list(tensor.shape)}"


def has_groupface_block(state_dict: Mapping[str, Any]) -> bool:
    """Whether ``state_dict`` carries a GroupFace block (``groupface.*`` keys)."""
    return any(isinstance(k, str) and k.startswith(GROUPFACE_PREFIX) for k in state_dict)


def architecture_of(state_dict: Mapping[str, Any]) -> str:
    """:data:`PLAIN_ARCHITECTURE` or :data:`GROUPFACE_ARCHITECTURE` for a verified state_dict."""
    return GROUPFACE_ARCHITECTURE if has_groupface_block(state_dict) else PLAIN_ARCHITECTURE


_GROUPFACE_HINT = (
    "use GroupFace weights exported by `lockers train` with a recipe that has a groupface "
    "section, unchanged; or drop every groupface.* key to use the plain InceptionResnetV1"
)

ARCHITECTURE_HINT = (
    "use the published VGGFace2 weights (`lockers models download`), or import a state_dict saved "
    "from facenet_pytorch.InceptionResnetV1(classify=False) with `lockers models import FILE`"
)
