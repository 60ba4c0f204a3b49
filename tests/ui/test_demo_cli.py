"""``lockers demo`` end to end in a subprocess: the scripted walk-through and a clean SIGTERM."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lockers.app import SAMPLE_VIDEO

MODEL_CACHE = Path.home() / ".cache" / "lockers"


def demo_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOCKERS_")}
    env.update(
        {
            "QT_QPA_PLATFORM": "offscreen",
            # The ONNX caches (detector, untrained embedder) outlive the test's folder.
            "LOCKERS_RECOGNITION__WEIGHTS": str(MODEL_CACHE / "vggface2-demo-test.pt"),
            "LOCKERS_BOARD__EMULATOR_DOOR_CLOSE_AFTER_S": "1.0",
            "LOCKERS_CAMERA__SOURCE": str(SAMPLE_VIDEO),
        }
    )
    return env


def lockers(*args: str) -> list[str]:
    return [sys.executable, "-c", "from lockers.cli import main; main()", *args]


@pytest.mark.skipif(not SAMPLE_VIDEO.is_file(), reason="the sample video is not shipped")
def test_demo_script_walks_register_then_retrieve(tmp_path: Path) -> None:
    done = subprocess.run(
        lockers("demo", "--script", "--offline", "--data-dir", str(tmp_path / "demo")),
        cwd=tmp_path,
        env=demo_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
        umask=0o022,  # the common default: new files 0644, folders 0755 unless we say otherwise
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "UNTRAINED MODEL" in output
    assert "liveness check skipped" in output
    assert "script passed: registered and retrieved locker 1" in output
    assert (tmp_path / "demo" / "lockers.db").is_file()
    # PIN hashes and the audit log: no other local account may read them.
    assert (tmp_path / "demo").stat().st_mode & 0o777 == 0o700
    for path in (tmp_path / "demo").iterdir():
        assert path.stat().st_mode & 0o777 == 0o600, path


def test_demo_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    process = subprocess.Popen(
        lockers("demo", "--headless", "--offline", "--data-dir", str(tmp_path / "demo")),
        cwd=tmp_path,
        env=demo_env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert process.stdout is not None
        deadline = time.monotonic() + 60
        seen = []
        for line in process.stdout:
            seen.append(line)
            if "status: ready" in line or time.monotonic() > deadline:
                break
        assert any("status: ready" in line for line in seen), "".join(seen)
        process.send_signal(signal.SIGTERM)
        rest, _ = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, "".join(seen) + rest


def test_kiosk_refuses_untrained_weights(tmp_path: Path) -> None:
    env = demo_env(tmp_path)
    env["LOCKERS_RECOGNITION__ALLOW_UNTRAINED"] = "true"
    done = subprocess.run(
        lockers("kiosk"), cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert "never runs on untrained weights" in done.stderr
    assert "Traceback" not in done.stderr
    del env["LOCKERS_RECOGNITION__ALLOW_UNTRAINED"]
    done = subprocess.run(
        lockers("kiosk"), cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert "lockers models download" in done.stderr


@pytest.mark.skipif(not SAMPLE_VIDEO.is_file(), reason="the sample video is not shipped")
def test_accessible_demo_walks_by_keys_with_voice_low_reach_and_contrast(tmp_path: Path) -> None:
    done = subprocess.run(
        lockers("demo", "--script", "--accessible", "--offline", "--data-dir", str(tmp_path / "d")),
        cwd=tmp_path,
        env=demo_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "script passed: registered and retrieved locker 1 by keys alone" in output
    spoken = re.findall(r"spoken: (\S+) \((ko|en)\)", output)
    ids = [key for key, _lang in spoken]
    for wanted in ("a11y.on", "home.register", "consent.title", "consent.accept", "a11y.seated"):
        assert wanted in ids, wanted
    assert "reg.open.title" in ids and "ret.open.title" in ids and "a11y.locker_next" in ids
    assert "script: key F7 (low reach)" in output
    assert "script: key Return (OK)" in output
