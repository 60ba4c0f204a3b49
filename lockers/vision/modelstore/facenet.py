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
from pathlib import Path
from typing import TYPE_CHECKING

from lockers.errors import WeightsError
from lockers.vision.modelstore.facenet_arch import (
    ARCHITECTURE_HINT,
    GROUPFACE_ARCHITECTURE,
    GROUPFACE_PREFIX,
    LOGITS_PREFIX,
    PLAIN_ARCHITECTURE,
    architecture_of,
    default_model_version,
    expected_architecture,
    has_groupface_block,
    verify_state_dict,
)
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
    require_file,
    torch_load,
    unwrap_checkpoint,
)

if TYPE_CHECKING:
    import torch

    from lockers.config import RecognitionConfig

logger = logging.getLogger(__name__)

__all__ = [
    "GROUPFACE_ARCHITECTURE",
    "GROUPFACE_PREFIX",
    "LOGITS_PREFIX",
    "PLAIN_ARCHITECTURE",
    "LoadedWeights",
    "architecture_of",
    "default_model_version",
    "download_weights",
    "expected_architecture",
    "has_groupface_block",
    "import_weights",
    "load_weights",
    "resolve_weights",
    "verify_state_dict",
]


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
    sha256, state_dict = _verify_download(part, dest, url, expected)
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


def _verify_download(
    part: Path, dest: Path, url: str, expected: str | None
) -> tuple[str, dict[str, torch.Tensor]]:
    """The SHA-256 and the verified state_dict of a finished download; a file that fails is
    moved to ``<dest>.rejected``.

    Raises:
        WeightsError: the hash differs from ``expected``, or the file is not usable weights.
    """
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
    return sha256, state_dict


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
    state_dict = unwrap_checkpoint(obj, origin=origin, hint=ARCHITECTURE_HINT)
    return verify_state_dict(state_dict, origin=origin)


def _download_command(path: Path) -> str:
    return f"lockers models download --dest {quote(path)}"
