"""Bringing a model file onto the machine: HTTP download with resume, atomic copy and rename.

Knows nothing about what the file holds: the per-kind checks (:mod:`.facenet`,
:mod:`.antispoof`) decide whether the bytes are usable before they replace anything.
``requests`` is imported inside the functions that need it.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from lockers.errors import WeightsError

if TYPE_CHECKING:
    import requests

CHUNK_BYTES = 1 << 20
_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")

ProgressCallback = Callable[[int, int | None], None]
"""Called as ``progress(done_bytes, total_bytes)``; ``total_bytes`` is None when unknown."""


def sha256_of(path: str | os.PathLike[str]) -> str:
    """Hex SHA-256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def check_sha256_arg(value: str | None) -> str | None:
    """A user-given digest, lower-cased; None stays None."""
    if value is None:
        return None
    normalised = value.strip().lower()
    if not _SHA256_RE.match(normalised):
        raise WeightsError(
            f"{value!r} is not a SHA-256 digest",
            hint="give the 64 hexadecimal digits, as printed by `sha256sum FILE`",
        )
    return normalised


def fetch(
    url: str,
    part: Path,
    *,
    progress: ProgressCallback | None,
    timeout_s: float,
    mirror_hint: str,
    resume_hint: str,
) -> None:
    """Bring ``part`` to the full content of ``url`` (resuming it if it exists).

    A later call resumes ``part`` with an HTTP Range request (a server that ignores Range makes
    it start again from zero). ``mirror_hint`` is the hint of network and server errors (how to
    use a site mirror or import the file); ``resume_hint`` that of an interrupted transfer.

    Raises:
        WeightsError: unreachable or failing server (404 ...), an interrupted transfer (``part``
            is kept; rerunning resumes).
    """
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
            raise _network_error(url, exc, timeout_s, mirror_hint) from None
        with response:
            if response.status_code == 416 and offset:
                # What we hold does not fit the file the server has now: start over.
                part.unlink(missing_ok=True)
                continue
            _check_status(url, response, mirror_hint)
            start, total = _body_range(response)
            if response.status_code == 206 and start != offset:
                part.unlink(missing_ok=True)  # a range we did not ask for: start over cleanly
                continue
            if response.status_code != 206:
                offset = 0  # the server ignored the Range request: it sends the whole file
            _stream_body(url, response, part, offset, total, progress, resume_hint)
            return
    raise WeightsError(
        f"the server at {url} answers with byte ranges that do not fit the file",
        hint=mirror_hint,
    )


def fetch_part(
    url: str,
    dest: Path,
    *,
    progress: ProgressCallback | None,
    timeout_s: float,
    mirror_hint: str,
    resume_hint: str,
) -> Path:
    """Download ``url`` into ``<dest>.part`` (resuming one that is there) and return that path;
    :func:`install_part` puts it in place once the caller has verified it."""
    part = dest.with_name(dest.name + ".part")
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise WeightsError(f"cannot create the folder {dest.parent}: {exc.strerror}") from None
    fetch(
        url,
        part,
        progress=progress,
        timeout_s=timeout_s,
        mirror_hint=mirror_hint,
        resume_hint=resume_hint,
    )
    return part


def install_part(part: Path, dest: Path) -> None:
    """Replace ``dest`` with the verified ``part`` atomically, durable across a power cut."""
    os.replace(part, dest)
    fsync_dir(dest.parent)


def _network_error(url: str, exc: Exception, timeout_s: float, hint: str) -> WeightsError:
    import requests

    if isinstance(exc, requests.exceptions.Timeout):
        what = f"no answer from {url} within {timeout_s:g} s"
    elif isinstance(exc, requests.exceptions.InvalidSchema | requests.exceptions.MissingSchema):
        what = f"{url!r} is not an http(s) URL"
    elif isinstance(exc, requests.exceptions.ConnectionError):
        what = f"cannot reach {url}: {_root_cause(exc)}"
    else:
        what = f"downloading {url} failed: {_root_cause(exc)}"
    return WeightsError(what, hint=hint)


def _root_cause(exc: BaseException) -> str:
    """A short reason from requests' nested exception text (which repeats the whole URL)."""
    text = str(exc)
    if "IncompleteRead" in text or "Connection broken" in text:
        return "the connection was closed in the middle of the file"
    reason = re.search(r"\[Errno -?\d+\] [^')\"]+", text)
    return reason.group(0) if reason else first_line(exc)


def _check_status(url: str, response: requests.Response, hint: str) -> None:
    if response.status_code == 404:
        raise WeightsError(f"{url} does not exist on the server (HTTP 404)", hint=hint)
    if response.status_code >= 400:
        raise WeightsError(
            f"the server refused {url} (HTTP {response.status_code} {response.reason})",
            hint=hint,
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
    resume_hint: str,
) -> None:
    import requests

    done = offset
    if progress is not None:
        progress(done, total)
    try:
        with open(part, "ab" if offset else "wb") as fh:
            try:
                for chunk in response.iter_content(CHUNK_BYTES):
                    fh.write(chunk)
                    done += len(chunk)
                    if progress is not None:
                        progress(done, total)
            finally:
                fh.flush()
                os.fsync(fh.fileno())
    except requests.exceptions.RequestException as exc:
        raise _interrupted(url, part, done, total, _root_cause(exc), resume_hint) from None
    except OSError as exc:
        raise WeightsError(
            f"cannot write {part}: {exc.strerror}",
            hint=f"free space or fix permissions in {part.parent}, then rerun the download "
            "(it resumes)",
        ) from None
    if total is not None and done < total:
        raise _interrupted(url, part, done, total, "the connection closed early", resume_hint)


def _interrupted(
    url: str, part: Path, done: int, total: int | None, why: str, hint: str
) -> WeightsError:
    of = f" of {total / 1e6:.1f} MB" if total else ""
    return WeightsError(
        f"the download of {url} was interrupted after {done / 1e6:.1f} MB{of} ({why}); "
        f"the partial file {part} is kept",
        hint=hint,
    )


def reject(part: Path, dest: Path) -> Path:
    """Move a file that failed its checks out of the way, to ``<dest>.rejected``."""
    rejected = dest.with_name(dest.name + ".rejected")
    os.replace(part, rejected)
    return rejected


def copy_atomically(src: Path, dest: Path, sha256: str) -> None:
    """Copy ``src`` to ``dest`` through a temporary file and a rename; the copy must hash to
    ``sha256`` (a file still being written is refused)."""
    tmp = dest.with_name(dest.name + ".importing")
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        with open(src, "rb") as fin, open(tmp, "wb") as fout:
            shutil.copyfileobj(fin, fout, CHUNK_BYTES)
            fout.flush()
            os.fsync(fout.fileno())
        if sha256_of(tmp) != sha256:
            raise WeightsError(
                f"{src} changed while it was being copied",
                hint="wait until the file is complete, then run the import again",
            )
        os.replace(tmp, dest)
        fsync_dir(dest.parent)
    except OSError as exc:
        raise WeightsError(
            f"cannot copy {src} to {dest}: {exc.strerror}",
            hint=f"free space or fix permissions in {dest.parent}",
        ) from None
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()


def fsync_dir(directory: Path) -> None:
    """Make a rename in ``directory`` durable."""
    # Makes the rename itself durable across a power cut (POSIX); not possible on Windows.
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def hash_or_fail(path: Path) -> str:
    """:func:`sha256_of`, with an unreadable file as a :class:`WeightsError`."""
    try:
        return sha256_of(path)
    except OSError as exc:
        raise WeightsError(
            f"cannot read the weights file {path}: {exc.strerror}",
            hint="check the file's permissions for the user running lockers",
        ) from None


def first_line(exc: BaseException) -> str:
    """The first line of an exception's text, at most 160 characters."""
    text = str(exc).strip().splitlines()
    return text[0][:160] if text else exc.__class__.__name__
