"""The voice tests' kit: a private PulseAudio with a null sink (a virtual sound card), prompts
built by espeak-ng, and the child Python each test runs its checks in.

Qt's audio backend binds to the sound server the first time it is used in a process, so a test
that plays sound runs its checks in a child Python (its own file run as a script) with the
server in its environment, and asserts on the JSON line the child prints last. The fixtures
(``null_sink``, ``prompts_data_dir``) are in conftest.py; this module holds their code and what
the children share (:func:`wait_until`).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

KEEP_ALIVE_READY = "Stream started"  # pacat -v: the keep-alive stream is being played


def pulse_env(runtime: Path) -> dict[str, str]:
    return {**os.environ, "XDG_RUNTIME_DIR": str(runtime), "HOME": str(runtime)}


def _drain(stream: object, ready: threading.Event, marker: str) -> None:
    """Read a child's pipe to its end (so it never blocks on a full pipe); ``ready`` is set
    at the first line with ``marker``."""
    for line in stream:  # type: ignore[attr-defined]
        if marker in line:
            ready.set()


@contextmanager
def null_sink_server(runtime: Path) -> Iterator[str]:
    """``PULSE_SERVER`` of a private PulseAudio with a null sink kept running by a 20 ms
    silent stream: an idle null sink renders in blocks of up to 2 s (a new stream would wait
    for the next block), a sound card's clock runs continuously; the keep-alive stream makes
    the virtual card behave like the real one. Yields once that stream is being played (pacat
    says "Stream started": the sink's clock runs), not merely connected."""
    tools = {name: shutil.which(name) for name in ("pulseaudio", "pacat")}
    if not all(tools.values()):
        pytest.skip(
            "PulseAudio is not installed (.ci/run installs it: "
            "apt-get install pulseaudio pulseaudio-utils)"
        )
    socket = runtime / "native"
    env = pulse_env(runtime)
    started = subprocess.run(
        [
            str(tools["pulseaudio"]),
            "-n",
            "--daemonize=yes",
            "--exit-idle-time=-1",
            "--load=module-null-sink sink_name=lockers_test",
            f"--load=module-native-protocol-unix socket={socket} auth-anonymous=1",
            "--log-level=error",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )  # --daemonize returns once the daemon is up and its modules are loaded
    if started.returncode != 0:
        pytest.fail(f"PulseAudio did not start: {started.stderr.strip()}")
    server = f"unix:{socket}"
    keep_alive = subprocess.Popen(
        [str(tools["pacat"]), "-v", "--playback", "--latency-msec=20", "--raw", "/dev/zero"],
        env={**env, "PULSE_SERVER": server},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,  # universal newlines: its progress lines end in \r
    )
    playing = threading.Event()
    drain = threading.Thread(
        target=_drain, args=(keep_alive.stderr, playing, KEEP_ALIVE_READY), daemon=True
    )
    drain.start()
    try:
        # The null sink's first block may take 2 s before the stream starts.
        assert playing.wait(15.0), "the keep-alive stream was never played by the null sink"
        yield server
    finally:
        keep_alive.terminate()
        keep_alive.wait(timeout=10)
        drain.join(timeout=10)
        if keep_alive.stderr is not None:
            keep_alive.stderr.close()
        subprocess.run([str(tools["pulseaudio"]), "--kill"], env=env, timeout=30, check=False)


def build_prompts(data: Path, languages: tuple[str, ...] = ("ko",)) -> Path:
    """``data`` with ``prompts/<language>/*.wav`` built by espeak-ng, as ``lockers prompts
    build`` makes them (skips where espeak-ng is missing)."""
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed (.ci/run installs it: apt-get install espeak-ng)")
    from lockers.prompts import build_language

    for language in languages:
        build_language(data / "prompts", language)
    return data


def run_child(
    script: str, args: list[str], env: dict[str, str], timeout_s: float = 120.0
) -> dict[str, object]:
    """Run test file ``script`` as a child Python (offscreen Qt); its last stdout line is a
    JSON report."""
    child = subprocess.run(
        [sys.executable, script, *args],
        env={**env, "QT_QPA_PLATFORM": "offscreen"},
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )
    assert child.returncode == 0, child.stderr[-3000:]
    return json.loads(child.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


# --- for the children -------------------------------------------------------------------------


def wait_until(condition: Callable[[], bool], timeout_s: float, step_ms: int = 5) -> bool:
    """Run Qt's event loop until ``condition`` holds (checked every ``step_ms``) or the time
    is up."""
    from PySide6.QtCore import QEventLoop, QTimer

    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            return False
        loop = QEventLoop()
        QTimer.singleShot(step_ms, loop.quit)
        loop.exec()
    return True
