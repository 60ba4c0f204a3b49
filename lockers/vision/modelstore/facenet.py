"""The embedding model kind: download, import, verify and load the InceptionResnetV1 state_dict.

The product never runs recognition on weights it has not verified. A weights file is accepted
only if it is a plain PyTorch state_dict (read with ``weights_only=True``: no pickled code) whose
keys and shapes are exactly those of ``facenet_pytorch.InceptionResnetV1(classify=False)`` (the
published VGGFace2 file also holds the 8631-class ``logits.*`` layer, which is dropped), with
finite floating-point tensors. The same network plus a well-formed GroupFace block
(``groupface.*`` keys, :mod:`lockers.vision.groupface`) is accepted too; anything else is not.

Every verified file is recorded in ``manifest.json`` beside it (SHA-256, size, source, model
version, when verified), so a file that changes afterwards is caught at start-up, and every
template the store saves can name the model version that produced it.

torch, facenet-pytorch and requests are imported inside the functions that need them, so
importing this module is cheap.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lockers.errors import WeightsError
from lockers.vision.modelstore.fetch import (
    ProgressCallback,
    check_sha256_arg,
    copy_atomically,
    fetch_part,
    hash_or_fail,
    install_part,
    reject,
    sha256_of,
)
from lockers.vision.modelstore.manifest import (
    check_version_arg,
    make_entry,
    quote,
    read_manifest,
    record,
)
from lockers.vision.modelstore.statedict import (
    OPTIONAL_SUFFIX,
    listing,
    require_file,
    tensor_problems,
    torch_load,
    unwrap_checkpoint,
)

if TYPE_CHECKING:
    import torch

    from lockers.config import RecognitionConfig

logger = logging.getLogger(__name__)

LOGITS_PREFIX = "logits."
# GroupFace (lockers.vision.groupface): an optional block on top of the plain network.
GROUPFACE_PREFIX = "groupface."
PLAIN_ARCHITECTURE = "inception_resnet_v1"
GROUPFACE_ARCHITECTURE = "inception_resnet_v1+groupface"


@dataclass(frozen=True)
class LoadedWeights:
    """A verified state_dict ready for ``InceptionResnetV1(classify=False).load_state_dict``.

    ``state_dict`` holds CPU tensors without the ``logits.*`` keys; ``sha256`` is the hex digest
    of the file as it is on disk; ``model_version`` is the name recorded on every template.
    """

    state_dict: Mapping[str, torch.Tensor]
    sha256: str
    model_version: str
    path: Path

    @property
    def architecture(self) -> str:
        """``"inception_resnet_v1"``, or ``"inception_resnet_v1+groupface"`` when the weights
        carry a GroupFace block (see :mod:`lockers.vision.groupface`)."""
        return architecture_of(self.state_dict)

    @property
    def groupface_groups(self) -> int | None:
        """K, the number of GroupFace groups; None for the plain network."""
        weight = self.state_dict.get(GROUPFACE_PREFIX + "group_weight")
        return None if weight is None else int(weight.shape[0])


# --------------------------------------------------------------------------- architecture


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
            hint=_ARCHITECTURE_HINT,
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
            hint=_ARCHITECTURE_HINT,
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

_ARCHITECTURE_HINT = (
    "use the published VGGFace2 weights (`lockers models download`), or import a state_dict saved "
    "from facenet_pytorch.InceptionResnetV1(classify=False) with `lockers models import FILE`"
)


# --------------------------------------------------------------------------- loading


def load_weights(path: str | os.PathLike[str]) -> LoadedWeights:
    """Read, check and return the weights at ``path``.

    The file must match its manifest entry (if it has one) and pass :func:`verify_state_dict`.
    A checkpoint dict that wraps the state_dict under exactly one of ``"state_dict"`` or
    ``"model"`` is accepted, as is a ``module.`` prefix on every key (``DataParallel``).

    Raises:
        WeightsError: the file is missing, empty, truncated, corrupt, not a plain state_dict,
            changed since it was recorded, or does not fit the architecture; the hint gives the
            command that fixes it.
    """
    path = Path(path)
    _require_weights_file(path)
    sha256 = hash_or_fail(path)
    entry = read_manifest(path.parent).get(path.name)
    if entry is not None and entry.sha256 != sha256:
        size = path.stat().st_size
        sizes = f"; it is {size} bytes, was {entry.size}" if size != entry.size else ""
        raise WeightsError(
            f"{path} changed since it was verified on {entry.verified_at}: its SHA-256 is "
            f"{sha256[:16]}…, the manifest records {entry.sha256[:16]}…{sizes}",
            hint=f"fetch a fresh copy with `{_download_command(path)}`; if you replaced the file "
            f"on purpose, record it with `lockers models import {quote(path)}`",
        )
    fix = f"replace it: `{_download_command(path)}` or `lockers models import FILE`"
    state_dict = _read_state_dict(path, origin=str(path), fix=fix)
    version = (
        entry.model_version
        if entry is not None
        else default_model_version(sha256, architecture_of(state_dict))
    )
    return LoadedWeights(state_dict=state_dict, sha256=sha256, model_version=version, path=path)


def resolve_weights(recognition: RecognitionConfig) -> LoadedWeights | None:
    """The weights the embedder starts with, from ``recognition.weights``.

    Returns None only when the weights are unusable AND ``recognition.allow_untrained`` is set
    (development): a loud warning is logged and the caller runs on random weights.

    Raises:
        WeightsError: the weights are unusable and untrained weights are not allowed.
    """
    try:
        return load_weights(recognition.weights)
    except WeightsError as exc:
        if not recognition.allow_untrained:
            raise
        logger.warning(
            "RUNNING WITH UNTRAINED (RANDOM) EMBEDDING WEIGHTS - face recognition results are "
            "MEANINGLESS. Reason: %s. This is allowed only because recognition.allow_untrained "
            "is set; never use it on a kiosk. Fix: %s",
            exc.message,
            exc.hint,
        )
        return None


# --------------------------------------------------------------------------- download


def download_weights(
    url: str,
    dest: str | os.PathLike[str],
    *,
    expected_sha256: str | None = None,
    progress: ProgressCallback | None = None,
    timeout_s: float = 30.0,
    model_version: str | None = None,
) -> LoadedWeights:
    """Fetch ``url`` to ``dest``, resuming a previous partial download, and verify it.

    Bytes go to ``<dest>.part``; a later call resumes it with an HTTP Range request (a server
    that ignores Range makes it start again from zero). Only a file that passes the SHA-256
    check (if ``expected_sha256`` is given) and :func:`verify_state_dict` replaces ``dest``,
    atomically; a file that fails is moved to ``<dest>.rejected``. The result is recorded in
    the manifest with ``source=url``.

    Args:
        url: http(s) URL of the state_dict.
        dest: where the weights go.
        expected_sha256: hex digest the file must have.
        progress: called with (bytes so far, total bytes or None) as data arrives.
        timeout_s: connect and read timeout, seconds.
        model_version: the name to record; default :func:`default_model_version`.

    Raises:
        WeightsError: unreachable or failing server (404 ...), an interrupted transfer (the
            ``.part`` file is kept; rerunning resumes), a file that fails verification.
    """
    dest = Path(dest)
    expected = check_sha256_arg(expected_sha256)
    version = check_version_arg(model_version)
    part = fetch_part(
        url,
        dest,
        progress=progress,
        timeout_s=timeout_s,
        mirror_hint=MIRROR_HINT,
        resume_hint="rerun `lockers models download` to resume where it stopped",
    )
    sha256 = sha256_of(part)
    if expected is not None and sha256 != expected:
        rejected = reject(part, dest)
        raise WeightsError(
            f"the file downloaded from {url} has SHA-256 {sha256}, expected {expected}; "
            f"it was moved to {rejected}",
            hint="the server sent a different file: check the URL (`--url` or "
            "recognition.weights_url in config.yaml) and the expected --sha256",
        )
    try:
        state_dict = _read_state_dict(part, origin=f"the file downloaded from {url}", fix="")
    except WeightsError as exc:
        rejected = reject(part, dest)
        raise WeightsError(
            f"{exc.message}; it was moved to {rejected}",
            hint="the server did not send usable weights: point `--url` (or "
            "recognition.weights_url in config.yaml) at the VGGFace2 state_dict, or copy the file "
            "over and use `lockers models import FILE`",
        ) from None
    install_part(part, dest)
    version = version or default_model_version(sha256, architecture_of(state_dict))
    record(dest, make_entry(dest, sha256, url, version))
    return LoadedWeights(state_dict=state_dict, sha256=sha256, model_version=version, path=dest)


# --------------------------------------------------------------------------- import


def import_weights(
    src: str | os.PathLike[str],
    dest: str | os.PathLike[str],
    version: str | None = None,
) -> LoadedWeights:
    """Verify ``src``, copy it atomically to ``dest`` and record it (air-gapped sites).

    ``src`` may be ``dest`` itself: the file is then verified and (re-)recorded in place,
    which is how a deliberately replaced file is accepted.

    Args:
        src: a state_dict file (see :func:`load_weights` for what is accepted).
        dest: where the weights go.
        version: the model version to record (fine-tuned weights carry their own name);
            default :func:`default_model_version`.

    Raises:
        WeightsError: ``src`` is unusable (nothing is written), or ``dest`` cannot be written.
    """
    src, dest = Path(src), Path(dest)
    version = check_version_arg(version)
    if not src.exists():
        raise WeightsError(
            f"the file to import, {src}, does not exist",
            hint="give the path of the .pt file you copied onto this machine",
        )
    _require_weights_file(src)
    sha256 = hash_or_fail(src)
    fix = (
        "copy the file again from its source (compare `sha256sum` on both sides), then rerun "
        "`lockers models import`"
    )
    state_dict = _read_state_dict(src, origin=str(src), fix=fix)
    same = dest.exists() and os.path.samefile(src, dest)
    if not same:
        copy_atomically(src, dest, sha256)
    version = version or default_model_version(sha256, architecture_of(state_dict))
    record(dest, make_entry(dest, sha256, str(src.resolve()), version))
    return LoadedWeights(state_dict=state_dict, sha256=sha256, model_version=version, path=dest)


MIRROR_HINT = (
    "check the network, or use a site mirror: `lockers models download --url URL` or "
    "recognition.weights_url in config.yaml; without internet, copy the file over and run "
    "`lockers models import FILE`"
)


def _require_weights_file(path: Path) -> None:
    require_file(
        path,
        missing="embedding weights",
        hint=f"run `{_download_command(path)}` (on a site without internet: copy the file "
        f"over and run `lockers models import FILE --dest {quote(path)}`)",
        setting="recognition.weights",
    )


def _read_state_dict(path: Path, *, origin: str, fix: str) -> dict[str, torch.Tensor]:
    """torch.load (tensors only) → unwrap a checkpoint → verify. ``fix`` is the hint for an
    unreadable file."""
    obj = torch_load(path, origin=origin, fix=fix)
    state_dict = unwrap_checkpoint(obj, origin=origin, hint=_ARCHITECTURE_HINT)
    return verify_state_dict(state_dict, origin=origin)


def _download_command(path: Path) -> str:
    return f"lockers models download --dest {quote(path)}"
