"""Weights files and a local HTTP server for tests that need real (random but valid) weights.

``make_state_dict_file(path, seed=0)`` writes a state_dict of the real InceptionResnetV1
architecture (seeded random init) plus the 8631-class ``logits.*`` layer, laid out like the
published VGGFace2 file (~112 MB). ``session_weights_file(tmp_path_factory)`` builds one once per
test session, shared by every module that asks.

``WeightsServer`` serves files over HTTP on 127.0.0.1 with Range support and switchable faults
(ignore Range, drop the connection after N bytes); it is a context manager that stops its thread.
"""

from __future__ import annotations

import re
import socket
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

LOGITS_CLASSES = 8631  # identities in VGGFace2's training split, as in the published file


def make_state_dict(seed: int = 0, *, with_logits: bool = True) -> dict[str, Any]:
    """A seeded random-init ``InceptionResnetV1(classify=False)`` state_dict (CPU tensors)."""
    import torch
    from facenet_pytorch import InceptionResnetV1

    torch.manual_seed(seed)
    state_dict: dict[str, Any] = dict(
        InceptionResnetV1(pretrained=None, classify=False).state_dict()
    )
    if with_logits:
        state_dict["logits.weight"] = torch.randn(LOGITS_CLASSES, 512) * 0.01
        state_dict["logits.bias"] = torch.zeros(LOGITS_CLASSES)
    return state_dict


def make_state_dict_file(path: str | Path, seed: int = 0, *, with_logits: bool = True) -> Path:
    """Write :func:`make_state_dict` to ``path`` with ``torch.save``; returns the path."""
    import torch

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(make_state_dict(seed, with_logits=with_logits), path)
    return path


_SESSION_FILES: dict[int, Path] = {}


def session_weights_file(tmp_path_factory: pytest.TempPathFactory, seed: int = 0) -> Path:
    """A valid weights file for ``seed``, built once per test session and shared by every module.

    Treat it as read-only. Use it from a fixture::

        @pytest.fixture(scope="session")
        def weights_file(tmp_path_factory):
            return session_weights_file(tmp_path_factory)
    """
    if seed not in _SESSION_FILES:
        folder = tmp_path_factory.mktemp(f"weights-seed{seed}")
        _SESSION_FILES[seed] = make_state_dict_file(folder / f"irv1-seed{seed}.pt", seed=seed)
    return _SESSION_FILES[seed]


@dataclass
class ServedRequest:
    """One request the server answered: path, the Range header sent, the status returned."""

    path: str
    range_header: str | None
    status: int


@dataclass
class WeightsServer:
    """An HTTP/1.0 server on 127.0.0.1 serving ``files`` (URL path → file) with byte ranges.

    ``ignore_range`` answers every request with the whole file (200); ``drop_after_bytes``
    closes the connection after that many body bytes, for the next ``drops`` requests.
    ``requests`` logs what was asked and answered.
    """

    files: dict[str, Path] = field(default_factory=dict)
    ignore_range: bool = False
    drop_after_bytes: int | None = None
    drops: int = 1
    requests: list[ServedRequest] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None

    def url(self, path: str) -> str:
        assert self._server is not None, "use the server as a context manager"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}{path}"

    def __enter__(self) -> WeightsServer:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            name="weights-http-server",
            kwargs={"poll_interval": 0.05},
        )
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        assert self._server is not None and self._thread is not None
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def _make_handler(owner: WeightsServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass  # keep test output clean

        def do_GET(self) -> None:
            range_header = self.headers.get("Range")
            file = owner.files.get(self.path)
            if file is None:
                self._log(range_header, 404)
                self.send_error(404)
                return
            size = file.stat().st_size
            start = 0
            match = re.fullmatch(r"bytes=(\d+)-", range_header or "")
            if match and not owner.ignore_range:
                start = int(match.group(1))
                if start >= size:
                    self._log(range_header, 416)
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{size}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
            status = 206 if start else 200
            self._log(range_header, status)
            self.send_response(status)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(size - start))
            if status == 206:
                self.send_header("Content-Range", f"bytes {start}-{size - 1}/{size}")
            self.end_headers()
            limit = None
            if owner.drop_after_bytes is not None and owner.drops > 0:
                owner.drops -= 1
                limit = owner.drop_after_bytes
            self._send_body(file, start, limit)

        def _send_body(self, file: Path, start: int, limit: int | None) -> None:
            sent = 0
            with open(file, "rb") as fh:
                fh.seek(start)
                while chunk := fh.read(1 << 20):
                    if limit is not None and sent + len(chunk) > limit:
                        self.wfile.write(chunk[: limit - sent])
                        self.wfile.flush()
                        # An abrupt close mid-body, as a dropped mobile or VPN link does.
                        self.connection.shutdown(socket.SHUT_RDWR)
                        self.close_connection = True
                        return
                    try:
                        self.wfile.write(chunk)
                    except (BrokenPipeError, ConnectionResetError):
                        return
                    sent += len(chunk)

        def _log(self, range_header: str | None, status: int) -> None:
            owner.requests.append(ServedRequest(self.path, range_header, status))

    return Handler
