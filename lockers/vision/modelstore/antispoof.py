"""The anti-spoofing model kind: download, import, verify and load a MiniFASNet state_dict.

A file is accepted only if it is a plain state_dict (the published files are saved from
``DataParallel``: every key starts with ``module.``, which is removed) whose keys, shapes and
dtypes are exactly those of the configured architecture (:mod:`lockers.vision.minifasnet`),
with finite values. A download must also have the SHA-256 pinned in the config. Verified files
are recorded in the ``manifest.json`` of their folder like the embedding weights.
"""

from __future__ import annotations

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
)
from lockers.vision.modelstore.manifest import make_entry, quote, read_manifest, record
from lockers.vision.modelstore.statedict import (
    Expected,
    require_file,
    tensor_problems,
    torch_load,
    unwrap_checkpoint,
)

if TYPE_CHECKING:
    import torch

    from lockers.config import AntiSpoofModelConfig, LivenessSettings

_MIRROR_HINT = (
    "check the network, or use a site mirror: `lockers models download --anti-spoof --url-prefix "
    "URL/` or liveness.anti_spoof_models[].url in config.yaml; without internet, copy the files "
    "over and run `lockers models import --anti-spoof FILE`"
)


@dataclass(frozen=True)
class LoadedAntiSpoof:
    """A verified anti-spoofing state_dict (keys without ``module.``), ready for
    ``minifasnet.build(architecture).load_state_dict(strict=True)``."""

    state_dict: Mapping[str, torch.Tensor]
    sha256: str
    model_version: str
    path: Path
    architecture: str
    scale: float


@lru_cache(maxsize=4)
def expected_keys(architecture: str) -> Expected:
    """Keys of the architecture's state_dict → (shape, is floating point); built on the meta
    device (no memory, no random init)."""
    import torch

    from lockers.vision.minifasnet import build

    with torch.device("meta"):
        model = build(architecture)
    return {k: (tuple(t.shape), t.is_floating_point()) for k, t in model.state_dict().items()}


def default_version(architecture: str, sha256: str) -> str:
    return f"{architecture.lower()}-{sha256[:12]}"


def verify_antispoof_state_dict(
    state_dict: Mapping[str, Any], architecture: str, *, origin: str
) -> dict[str, torch.Tensor]:
    """Check every key, shape and dtype against ``architecture``, and that values are finite.

    Raises:
        WeightsError: a key missing or unexpected (a renamed key is both), a shape or dtype that
            differs, NaN/inf; the message names up to five keys of each kind.
    """
    import torch

    expected = expected_keys(architecture)
    not_tensors = [k for k, v in state_dict.items() if not isinstance(v, torch.Tensor)]
    if not_tensors:
        raise WeightsError(
            f"{origin} is not a state_dict: {', '.join(map(str, not_tensors[:5]))} are not tensors",
            hint=_hint(architecture),
        )
    missing = [k for k in expected if k not in state_dict]
    unexpected = [k for k in state_dict if k not in expected]
    problems = tensor_problems(state_dict, expected, missing, unexpected, exact_dtype=True)
    if problems:
        raise WeightsError(
            f"{origin} does not fit {architecture} (80x80, 3 classes): " + "; ".join(problems),
            hint=_hint(architecture),
        )
    return dict(state_dict)


def _hint(architecture: str) -> str:
    return (
        f"use the published {architecture} file of Silent-Face-Anti-Spoofing unchanged "
        "(`lockers models download --anti-spoof`), or check that liveness.anti_spoof_models "
        "names the right architecture for this file"
    )


def _read(path: Path, spec: AntiSpoofModelConfig, *, origin: str, fix: str) -> dict[str, Any]:
    obj = torch_load(path, origin=origin, fix=fix)
    state_dict = unwrap_checkpoint(obj, origin=origin, hint=_hint(spec.architecture))
    return verify_antispoof_state_dict(state_dict, spec.architecture, origin=origin)


def model_path(liveness: LivenessSettings, spec: AntiSpoofModelConfig) -> Path:
    """Where the file of ``spec`` lives."""
    return liveness.anti_spoof_dir / spec.file


def load_antispoof(path: str | os.PathLike[str], spec: AntiSpoofModelConfig) -> LoadedAntiSpoof:
    """Read and verify one anti-spoofing file; it must match its manifest entry, if any.

    Raises:
        WeightsError: missing, unreadable, changed since recorded, or not the architecture.
    """
    path = Path(path)
    require_file(
        path,
        missing=f"anti-spoofing weights ({spec.architecture})",
        hint="run `lockers models download --anti-spoof` (offline: copy the files over and run "
        "`lockers models import --anti-spoof FILE`), or set liveness.passive: off to run "
        "without the passive check (shown on screen and audited)",
        setting="liveness.anti_spoof_dir",
    )
    sha256 = hash_or_fail(path)
    entry = read_manifest(path.parent).get(path.name)
    if entry is not None and entry.sha256 != sha256:
        raise WeightsError(
            f"{path} changed since it was verified on {entry.verified_at}: its SHA-256 is "
            f"{sha256[:16]}…, the manifest records {entry.sha256[:16]}…",
            hint="fetch a fresh copy with `lockers models download --anti-spoof --force`",
        )
    fix = "replace it: `lockers models download --anti-spoof --force`"
    state_dict = _read(path, spec, origin=str(path), fix=fix)
    version = entry.model_version if entry else default_version(spec.architecture, sha256)
    return LoadedAntiSpoof(state_dict, sha256, version, path, spec.architecture, spec.scale)


def import_antispoof(
    src: str | os.PathLike[str], dest: str | os.PathLike[str], spec: AntiSpoofModelConfig
) -> LoadedAntiSpoof:
    """Verify ``src`` against ``spec`` (architecture; SHA-256 too), copy it atomically to ``dest``
    and record it. ``src`` may be ``dest`` itself (verify and record in place).

    Raises:
        WeightsError: ``src`` is unusable or not the pinned file (nothing is written).
    """
    src, dest = Path(src), Path(dest)
    require_file(
        src,
        missing="the file to import",
        hint="give the path of the .pth file you copied onto this machine",
        setting="liveness.anti_spoof_dir",
    )
    sha256 = hash_or_fail(src)
    _check_pinned(sha256, spec, origin=str(src))
    fix = "copy the file again from its source (compare `sha256sum` on both sides)"
    state_dict = _read(src, spec, origin=str(src), fix=fix)
    if not (dest.exists() and os.path.samefile(src, dest)):
        copy_atomically(src, dest, sha256)
    version = default_version(spec.architecture, sha256)
    record(dest, make_entry(dest, sha256, str(src.resolve()), version))
    return LoadedAntiSpoof(state_dict, sha256, version, dest, spec.architecture, spec.scale)


def download_antispoof(
    url: str,
    dest: str | os.PathLike[str],
    spec: AntiSpoofModelConfig,
    *,
    progress: ProgressCallback | None = None,
    timeout_s: float = 30.0,
) -> LoadedAntiSpoof:
    """Fetch ``url`` to ``dest`` (resuming ``<dest>.part``); only a file with the pinned SHA-256
    that fits the architecture replaces ``dest``; one that fails is moved to ``<dest>.rejected``.

    Raises:
        WeightsError: network or server failure, interrupted transfer (rerun resumes), wrong
            file.
    """
    dest = Path(dest)
    part = fetch_part(
        url,
        dest,
        progress=progress,
        timeout_s=timeout_s,
        mirror_hint=_MIRROR_HINT,
        resume_hint="rerun `lockers models download --anti-spoof` to resume where it stopped",
    )
    sha256 = hash_or_fail(part)
    try:
        _check_pinned(sha256, spec, origin=f"the file downloaded from {url}")
        state_dict = _read(part, spec, origin=f"the file downloaded from {url}", fix="")
    except WeightsError as exc:
        rejected = reject(part, dest)
        raise WeightsError(f"{exc.message}; it was moved to {rejected}", hint=exc.hint) from None
    install_part(part, dest)
    version = default_version(spec.architecture, sha256)
    record(dest, make_entry(dest, sha256, url, version))
    return LoadedAntiSpoof(state_dict, sha256, version, dest, spec.architecture, spec.scale)


def _check_pinned(sha256: str, spec: AntiSpoofModelConfig, *, origin: str) -> None:
    pinned = check_sha256_arg(spec.sha256)
    if pinned is not None and sha256 != pinned:
        raise WeightsError(
            f"{origin} has SHA-256 {sha256}, but liveness.anti_spoof_models pins {spec.file} "
            f"to {pinned}",
            hint="use the published file unchanged; if the site deliberately uses other weights, "
            f"set its sha256 in config.yaml (`sha256sum {quote(Path(spec.file))}`)",
        )


def verified_files(liveness: LivenessSettings) -> list[str]:
    """Problems that stop a kiosk with ``passive: on``: each configured file must be recorded in
    its folder's manifest with the pinned SHA-256 (cheap: no hashing). Empty = ready."""
    problems = []
    entries = read_manifest(liveness.anti_spoof_dir)
    for spec in liveness.anti_spoof_models:
        path = model_path(liveness, spec)
        entry = entries.get(spec.file)
        if not path.is_file():
            problems.append(f"{path} is missing")
        elif entry is None:
            problems.append(f"{path} is not verified (not in {path.parent}/manifest.json)")
        elif entry.sha256 != spec.sha256:
            problems.append(f"{path} is recorded with another SHA-256 than the pinned one")
    return problems
