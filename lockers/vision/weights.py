"""Embedding weights: download, import, verify and load the InceptionResnetV1 state_dict.

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

import contextlib
import hashlib
import json
import logging
import os
import re
import shlex
import shutil
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lockers.errors import WeightsError

if TYPE_CHECKING:
    import requests
    import torch

    from lockers.config import RecognitionConfig

logger = logging.getLogger(__name__)

MANIFEST_NAME = "manifest.json"
MANIFEST_FORMAT = 1
LOGITS_PREFIX = "logits."
# GroupFace (lockers.vision.groupface): an optional block on top of the plain network.
GROUPFACE_PREFIX = "groupface."
PLAIN_ARCHITECTURE = "inception_resnet_v1"
GROUPFACE_ARCHITECTURE = "inception_resnet_v1+groupface"
# Old checkpoints may lack BatchNorm's step counter; it plays no part in inference.
_OPTIONAL_SUFFIX = ".num_batches_tracked"
_MAX_LISTED = 5  # keys named per kind of problem; the rest are counted
_CHUNK_BYTES = 1 << 20
_VERSION_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$")
_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
_ZIP_MAGIC = b"PK\x03\x04"

ProgressCallback = Callable[[int, int | None], None]
"""Called as ``progress(done_bytes, total_bytes)``; ``total_bytes`` is None when unknown."""


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


@dataclass(frozen=True)
class ManifestEntry:
    """What the manifest records about one verified weights file (named relative to it)."""

    file: str
    sha256: str
    size: int
    source: str  # the URL it was downloaded from, or the absolute path it was imported from
    model_version: str
    verified_at: str  # ISO 8601, UTC


# Keys a later version may add to an entry are ignored, not treated as damage.
_ENTRY_FIELDS = tuple(f.name for f in fields(ManifestEntry))


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
            f"{origin} is not a state_dict: {_listing(not_tensors)} are not tensors",
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
        if key.endswith(_OPTIONAL_SUFFIX) and not floating:
            kept[key] = torch.tensor(0, dtype=torch.long)
        else:
            missing.append(key)
    # Integer buffers (BatchNorm counters) are not held to their dtype: old exports vary.
    problems = _tensor_problems(kept, expected, missing, unexpected, exact_dtype=False)
    if problems:
        raise WeightsError(
            f"{origin} does not fit InceptionResnetV1 (classify=False): " + "; ".join(problems),
            hint=_ARCHITECTURE_HINT,
        )
    if block:
        kept.update(_verify_groupface_block(block, origin=origin))
    return kept


def _tensor_problems(
    tensors: Mapping[str, torch.Tensor],
    expected: Mapping[str, tuple[tuple[int, ...], bool]],
    missing: list[str],
    unexpected: list[str],
    *,
    exact_dtype: bool,
    bad_values: list[str] | None = None,
) -> list[str]:
    """One line per kind of problem (missing, unexpected, shape, dtype, NaN/inf, bad values).

    ``expected`` maps key → (shape, is floating point); keys of ``tensors`` not in it are
    skipped (the caller lists them as unexpected). With ``exact_dtype`` an expected integer
    tensor must not be floating point either.
    """
    mismatched: list[str] = []
    wrong_dtype: list[str] = []
    not_finite: list[str] = []
    for key, tensor in tensors.items():
        if key not in expected:
            continue
        shape, floating = expected[key]
        if tuple(tensor.shape) != shape:
            mismatched.append(f"{key} {list(tensor.shape)} (expected {list(shape)})")
        elif floating != tensor.is_floating_point() and (floating or exact_dtype):
            kind = "floating point" if floating else "integer"
            wrong_dtype.append(f"{key} {tensor.dtype} (expected {kind})")
        elif floating and not _all_finite(tensor):
            not_finite.append(key)
    return [
        f"{len(items)} {kind}: {_listing(items)}"
        for kind, items in (
            ("missing keys", missing),
            ("unexpected keys", unexpected),
            ("shape mismatches", [*mismatched, *(bad_values or [])]),
            ("tensors of the wrong dtype", wrong_dtype),
            ("tensors with NaN or infinite values", not_finite),
        )
        if items
    ]


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
    problems = _tensor_problems(
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


def _all_finite(tensor: torch.Tensor) -> bool:
    import numpy as np
    import torch

    numpy_float = tensor.dtype in (torch.float16, torch.float32, torch.float64)
    if numpy_float and tensor.device.type == "cpu":
        # numpy: single-threaded and ~5x faster here than torch's parallel reduction, whose
        # thread barriers crawl when the cores are busy (a kiosk starting up, a CI runner).
        return bool(np.isfinite(tensor.detach().numpy()).all())
    return bool(torch.isfinite(tensor).all())


_GROUPFACE_HINT = (
    "use GroupFace weights exported by `lockers train` with a recipe that has a groupface "
    "section, unchanged; or drop every groupface.* key to use the plain InceptionResnetV1"
)

_ARCHITECTURE_HINT = (
    "use the published VGGFace2 weights (`lockers models download`), or import a state_dict saved "
    "from facenet_pytorch.InceptionResnetV1(classify=False) with `lockers models import FILE`"
)


def _listing(items: list[str]) -> str:
    shown = ", ".join(items[:_MAX_LISTED])
    more = len(items) - _MAX_LISTED
    return f"{shown} … and {more} more" if more > 0 else shown


# --------------------------------------------------------------------------- manifest


def manifest_path(weights_path: str | os.PathLike[str]) -> Path:
    """The manifest that records ``weights_path``: ``manifest.json`` in the same folder."""
    return Path(weights_path).parent / MANIFEST_NAME


def read_manifest(directory: str | os.PathLike[str]) -> dict[str, ManifestEntry]:
    """Entries of ``directory/manifest.json`` by file name; empty when there is no manifest.

    Raises:
        WeightsError: the manifest exists but cannot be read or parsed.
    """
    path = Path(directory) / MANIFEST_NAME
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise WeightsError(f"cannot read the weights manifest {path}: {exc.strerror}") from None
    try:
        files = json.loads(text)["files"]
        return {
            name: ManifestEntry(**{k: raw[k] for k in _ENTRY_FIELDS if k != "file"}, file=name)
            for name, raw in files.items()
        }
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise WeightsError(
            f"the weights manifest {path} is damaged ({exc.__class__.__name__}: {exc})",
            hint=f"delete {path} and record the weights again with "
            f"`lockers models import {_quote(path.parent)}/FILE`",
        ) from None


def _record(weights_path: Path, entry: ManifestEntry) -> None:
    """Add or replace ``entry`` in the manifest beside ``weights_path``, atomically."""
    directory = weights_path.parent
    entries = read_manifest(directory)
    entries[entry.file] = entry
    document = {
        "format": MANIFEST_FORMAT,
        "files": {
            name: {k: v for k, v in asdict(e).items() if k != "file"}
            for name, e in sorted(entries.items())
        },
    }
    data = (json.dumps(document, indent=2) + "\n").encode("utf-8")
    target = directory / MANIFEST_NAME
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{MANIFEST_NAME}.", dir=directory)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, target)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        _fsync_dir(directory)
    except OSError as exc:
        raise WeightsError(
            f"cannot write the weights manifest {target}: {exc.strerror}",
            hint=f"make {directory} writable for this user",
        ) from None


def _entry(path: Path, sha256: str, source: str, model_version: str) -> ManifestEntry:
    return ManifestEntry(
        file=path.name,
        sha256=sha256,
        size=path.stat().st_size,
        source=source,
        model_version=model_version,
        verified_at=datetime.now(UTC).isoformat(timespec="seconds"),
    )


# --------------------------------------------------------------------------- loading


def sha256_of(path: str | os.PathLike[str]) -> str:
    """Hex SHA-256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


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
    _require_file(path)
    sha256 = _hash_or_fail(path)
    entry = read_manifest(path.parent).get(path.name)
    if entry is not None and entry.sha256 != sha256:
        size = path.stat().st_size
        sizes = f"; it is {size} bytes, was {entry.size}" if size != entry.size else ""
        raise WeightsError(
            f"{path} changed since it was verified on {entry.verified_at}: its SHA-256 is "
            f"{sha256[:16]}…, the manifest records {entry.sha256[:16]}…{sizes}",
            hint=f"fetch a fresh copy with `{_download_command(path)}`; if you replaced the file "
            f"on purpose, record it with `lockers models import {_quote(path)}`",
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


def _require_file(path: Path) -> None:
    if path.is_dir():
        raise WeightsError(
            f"the weights path {path} is a folder, not a file",
            hint="set recognition.weights in config.yaml to the .pt file itself",
        )
    if not path.exists():
        raise WeightsError(
            f"embedding weights not found at {path}",
            hint=f"run `{_download_command(path)}` (on a site without internet: copy the file "
            f"over and run `lockers models import FILE --dest {_quote(path)}`)",
        )


def _hash_or_fail(path: Path) -> str:
    try:
        return sha256_of(path)
    except OSError as exc:
        raise WeightsError(
            f"cannot read the weights file {path}: {exc.strerror}",
            hint="check the file's permissions for the user running lockers",
        ) from None


def _read_state_dict(path: Path, *, origin: str, fix: str) -> dict[str, torch.Tensor]:
    """torch.load (tensors only) → unwrap a checkpoint → verify. ``fix`` is the hint for an
    unreadable file."""
    obj = _torch_load(path, origin=origin, fix=fix)
    return verify_state_dict(_unwrap_checkpoint(obj, origin=origin), origin=origin)


def _torch_load(path: Path, *, origin: str, fix: str) -> Any:
    import pickle

    import torch

    size = path.stat().st_size
    if size == 0:
        raise WeightsError(f"the weights file {origin} is empty (0 bytes)", hint=fix)
    with open(path, "rb") as fh:
        head = fh.read(64)
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if head.startswith(_ZIP_MAGIC) and "weights only load failed" in str(exc).lower():
            raise WeightsError(
                f"{origin} holds Python objects besides tensors; it is refused because "
                "unpickling them could run arbitrary code",
                hint="re-save just the tensors: torch.save(model.state_dict(), 'weights.pt'), then "
                "`lockers models import weights.pt`",
            ) from None
        raise WeightsError(
            f"{origin} is not a PyTorch weights file ({size} bytes{_describe_head(head)})",
            hint=fix,
        ) from None
    except Exception as exc:
        # Parsing arbitrary bytes fails in arbitrary ways (struct.error, KeyError, EOFError...).
        if head.startswith(_ZIP_MAGIC):
            what = f"is truncated or damaged ({size} bytes; {_first_line(exc)})"
        else:
            what = f"is not a PyTorch weights file ({size} bytes{_describe_head(head)})"
        raise WeightsError(f"the weights file {origin} {what}", hint=fix) from None


def _describe_head(head: bytes) -> str:
    if head.lstrip().lower().startswith((b"<!doctype", b"<html", b"<?xml")):
        return ", it looks like a web page: a proxy or error page was saved instead"
    return f", it starts with {head[:16]!r}"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:160] if text else exc.__class__.__name__


def _unwrap_checkpoint(obj: Any, *, origin: str) -> Mapping[str, Any]:
    import torch

    def is_state_dict(value: Any) -> bool:
        return (
            isinstance(value, Mapping)
            and len(value) > 0
            and all(isinstance(v, torch.Tensor) for v in value.values())
        )

    if not isinstance(obj, Mapping):
        raise WeightsError(
            f"{origin} holds a {type(obj).__name__}, not a state_dict (a dict of tensors)",
            hint=_ARCHITECTURE_HINT,
        )
    if is_state_dict(obj):
        state_dict: Mapping[str, Any] = obj
    else:
        wrapped = [key for key in ("state_dict", "model") if is_state_dict(obj.get(key))]
        if len(wrapped) != 1:
            keys = ", ".join(repr(k) for k in list(obj)[:8])
            why = "both 'state_dict' and 'model'" if wrapped else f"keys {keys} but no state_dict"
            raise WeightsError(
                f"{origin} is a checkpoint dict holding {why}; cannot tell which are the weights",
                hint="save the embedding network's state_dict alone: "
                "torch.save(model.state_dict(), 'weights.pt'), then "
                "`lockers models import weights.pt`",
            )
        state_dict = obj[wrapped[0]]
    if all(isinstance(k, str) and k.startswith("module.") for k in state_dict):
        state_dict = {k.removeprefix("module."): v for k, v in state_dict.items()}
    return state_dict


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
    expected = _check_sha256_arg(expected_sha256)
    version = _check_version_arg(model_version)
    part = dest.with_name(dest.name + ".part")
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise WeightsError(f"cannot create the folder {dest.parent}: {exc.strerror}") from None
    _fetch(url, part, progress=progress, timeout_s=timeout_s)
    sha256 = sha256_of(part)
    if expected is not None and sha256 != expected:
        rejected = _reject(part, dest)
        raise WeightsError(
            f"the file downloaded from {url} has SHA-256 {sha256}, expected {expected}; "
            f"it was moved to {rejected}",
            hint="the server sent a different file: check the URL (`--url` or "
            "recognition.weights_url in config.yaml) and the expected --sha256",
        )
    try:
        state_dict = _read_state_dict(part, origin=f"the file downloaded from {url}", fix="")
    except WeightsError as exc:
        rejected = _reject(part, dest)
        raise WeightsError(
            f"{exc.message}; it was moved to {rejected}",
            hint="the server did not send usable weights: point `--url` (or "
            "recognition.weights_url in config.yaml) at the VGGFace2 state_dict, or copy the file "
            "over and use `lockers models import FILE`",
        ) from None
    os.replace(part, dest)
    _fsync_dir(dest.parent)
    version = version or default_model_version(sha256, architecture_of(state_dict))
    _record(dest, _entry(dest, sha256, url, version))
    return LoadedWeights(state_dict=state_dict, sha256=sha256, model_version=version, path=dest)


def _fetch(url: str, part: Path, *, progress: ProgressCallback | None, timeout_s: float) -> None:
    """Bring ``part`` to the full content of ``url`` (resuming it if it exists)."""
    import requests

    for _attempt in range(2):
        offset = part.stat().st_size if part.exists() else 0
        # identity: a gzip-encoded body would not line up with byte offsets.
        headers = {"Accept-Encoding": "identity"}
        if offset:
            headers["Range"] = f"bytes={offset}-"
        try:
            response = requests.get(url, headers=headers, stream=True, timeout=timeout_s)
        except requests.exceptions.RequestException as exc:
            raise _network_error(url, exc, timeout_s) from None
        with response:
            if response.status_code == 416 and offset:
                # What we hold does not fit the file the server has now: start over.
                part.unlink(missing_ok=True)
                continue
            _check_status(url, response)
            start, total = _body_range(response)
            if response.status_code == 206 and start != offset:
                part.unlink(missing_ok=True)  # a range we did not ask for: start over cleanly
                continue
            if response.status_code != 206:
                offset = 0  # the server ignored the Range request: it sends the whole file
            _stream_body(url, response, part, offset, total, progress)
            return
    raise WeightsError(
        f"the server at {url} answers with byte ranges that do not fit the file",
        hint=_MIRROR_HINT,
    )


_MIRROR_HINT = (
    "check the network, or use a site mirror: `lockers models download --url URL` or "
    "recognition.weights_url in config.yaml; without internet, copy the file over and run "
    "`lockers models import FILE`"
)


def _network_error(url: str, exc: Exception, timeout_s: float) -> WeightsError:
    import requests

    if isinstance(exc, requests.exceptions.Timeout):
        what = f"no answer from {url} within {timeout_s:g} s"
    elif isinstance(exc, requests.exceptions.InvalidSchema | requests.exceptions.MissingSchema):
        what = f"{url!r} is not an http(s) URL"
    elif isinstance(exc, requests.exceptions.ConnectionError):
        what = f"cannot reach {url}: {_root_cause(exc)}"
    else:
        what = f"downloading {url} failed: {_root_cause(exc)}"
    return WeightsError(what, hint=_MIRROR_HINT)


def _root_cause(exc: BaseException) -> str:
    """A short reason from requests' nested exception text (which repeats the whole URL)."""
    text = str(exc)
    if "IncompleteRead" in text or "Connection broken" in text:
        return "the connection was closed in the middle of the file"
    reason = re.search(r"\[Errno -?\d+\] [^')\"]+", text)
    return reason.group(0) if reason else _first_line(exc)


def _check_status(url: str, response: requests.Response) -> None:
    if response.status_code == 404:
        raise WeightsError(f"{url} does not exist on the server (HTTP 404)", hint=_MIRROR_HINT)
    if response.status_code >= 400:
        raise WeightsError(
            f"the server refused {url} (HTTP {response.status_code} {response.reason})",
            hint=_MIRROR_HINT,
        )


def _body_range(response: requests.Response) -> tuple[int, int | None]:
    """(offset of the first body byte, total file size or None) from the response headers."""
    length = response.headers.get("Content-Length")
    length_n = int(length) if length and length.isdigit() else None
    if response.status_code == 206:
        match = re.match(r"bytes (\d+)-(\d+)/(\d+|\*)", response.headers.get("Content-Range", ""))
        if match:
            total = match.group(3)
            return int(match.group(1)), int(total) if total.isdigit() else None
        return -1, None  # a 206 we cannot place: treated as a fresh start by the caller
    return 0, length_n


def _stream_body(
    url: str,
    response: requests.Response,
    part: Path,
    offset: int,
    total: int | None,
    progress: ProgressCallback | None,
) -> None:
    import requests

    done = offset
    if progress is not None:
        progress(done, total)
    try:
        with open(part, "ab" if offset else "wb") as fh:
            try:
                for chunk in response.iter_content(_CHUNK_BYTES):
                    fh.write(chunk)
                    done += len(chunk)
                    if progress is not None:
                        progress(done, total)
            finally:
                fh.flush()
                os.fsync(fh.fileno())
    except requests.exceptions.RequestException as exc:
        raise _interrupted(url, part, done, total, _root_cause(exc)) from None
    except OSError as exc:
        raise WeightsError(
            f"cannot write {part}: {exc.strerror}",
            hint=f"free space or fix permissions in {part.parent}, then rerun the download "
            "(it resumes)",
        ) from None
    if total is not None and done < total:
        raise _interrupted(url, part, done, total, "the connection closed early")


def _interrupted(url: str, part: Path, done: int, total: int | None, why: str) -> WeightsError:
    of = f" of {total / 1e6:.1f} MB" if total else ""
    return WeightsError(
        f"the download of {url} was interrupted after {done / 1e6:.1f} MB{of} ({why}); "
        f"the partial file {part} is kept",
        hint="rerun `lockers models download` to resume where it stopped",
    )


def _reject(part: Path, dest: Path) -> Path:
    rejected = dest.with_name(dest.name + ".rejected")
    os.replace(part, rejected)
    return rejected


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
    version = _check_version_arg(version)
    if not src.exists():
        raise WeightsError(
            f"the file to import, {src}, does not exist",
            hint="give the path of the .pt file you copied onto this machine",
        )
    _require_file(src)
    sha256 = _hash_or_fail(src)
    fix = (
        "copy the file again from its source (compare `sha256sum` on both sides), then rerun "
        "`lockers models import`"
    )
    state_dict = _read_state_dict(src, origin=str(src), fix=fix)
    same = dest.exists() and os.path.samefile(src, dest)
    if not same:
        _copy_atomically(src, dest, sha256)
    version = version or default_model_version(sha256, architecture_of(state_dict))
    _record(dest, _entry(dest, sha256, str(src.resolve()), version))
    return LoadedWeights(state_dict=state_dict, sha256=sha256, model_version=version, path=dest)


def _copy_atomically(src: Path, dest: Path, sha256: str) -> None:
    tmp = dest.with_name(dest.name + ".importing")
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        with open(src, "rb") as fin, open(tmp, "wb") as fout:
            shutil.copyfileobj(fin, fout, _CHUNK_BYTES)
            fout.flush()
            os.fsync(fout.fileno())
        if sha256_of(tmp) != sha256:
            raise WeightsError(
                f"{src} changed while it was being copied",
                hint="wait until the file is complete, then run the import again",
            )
        os.replace(tmp, dest)
        _fsync_dir(dest.parent)
    except OSError as exc:
        raise WeightsError(
            f"cannot copy {src} to {dest}: {exc.strerror}",
            hint=f"free space or fix permissions in {dest.parent}",
        ) from None
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()


# --------------------------------------------------------------------------- helpers


def _check_sha256_arg(value: str | None) -> str | None:
    if value is None:
        return None
    normalised = value.strip().lower()
    if not _SHA256_RE.match(normalised):
        raise WeightsError(
            f"{value!r} is not a SHA-256 digest",
            hint="give the 64 hexadecimal digits, as printed by `sha256sum FILE`",
        )
    return normalised


def _check_version_arg(value: str | None) -> str | None:
    if value is None or _VERSION_RE.match(value):
        return value
    raise WeightsError(
        f"{value!r} is not a valid model version name",
        hint="use 1 to 64 letters, digits, '.', '_', '+' or '-', starting with a letter or digit "
        "(e.g. irv1-site-finetune-2026-11)",
    )


def _download_command(path: Path) -> str:
    return f"lockers models download --dest {_quote(path)}"


def _quote(path: Path) -> str:
    return shlex.quote(str(path))


def _fsync_dir(directory: Path) -> None:
    # Makes the rename itself durable across a power cut (POSIX); not possible on Windows.
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
