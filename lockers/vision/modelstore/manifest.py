"""``manifest.json``: what was verified, per model file (SHA-256, size, source, version, when).

One manifest per models folder, shared by every model kind; a file that changes after it was
recorded is caught at start-up by comparing its SHA-256 with the entry.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import tempfile
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime
from pathlib import Path

from lockers.errors import WeightsError
from lockers.vision.modelstore.fetch import fsync_dir

MANIFEST_NAME = "manifest.json"
MANIFEST_FORMAT = 1
_VERSION_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$")


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
            f"`lockers models import {quote(path.parent)}/FILE`",
        ) from None


def record(weights_path: Path, entry: ManifestEntry) -> None:
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
        fsync_dir(directory)
    except OSError as exc:
        raise WeightsError(
            f"cannot write the weights manifest {target}: {exc.strerror}",
            hint=f"make {directory} writable for this user",
        ) from None


def make_entry(path: Path, sha256: str, source: str, model_version: str) -> ManifestEntry:
    """The entry for ``path`` as it is now, verified now."""
    return ManifestEntry(
        file=path.name,
        sha256=sha256,
        size=path.stat().st_size,
        source=source,
        model_version=model_version,
        verified_at=datetime.now(UTC).isoformat(timespec="seconds"),
    )


def check_version_arg(value: str | None) -> str | None:
    """A user-given model version name, checked; None stays None."""
    if value is None or _VERSION_RE.match(value):
        return value
    raise WeightsError(
        f"{value!r} is not a valid model version name",
        hint="use 1 to 64 letters, digits, '.', '_', '+' or '-', starting with a letter or digit "
        "(e.g. irv1-site-finetune-2026-11)",
    )


def quote(path: Path) -> str:
    """``path`` quoted for a shell command in a hint."""
    return shlex.quote(str(path))
