"""``lockers kiosk`` refuses to start without verified anti-spoofing weights; ``lockers demo``
runs its scripted walk-through with the real passive check on the sample video."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from test_demo_cli import demo_env, lockers

from lockers.app import SAMPLE_VIDEO

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "vision"))


def test_kiosk_refuses_to_start_without_verified_anti_spoof_weights(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    from weights_fixtures import session_weights_file

    from lockers.vision.modelstore import import_weights

    weights = tmp_path / "models" / "irv1.pt"
    import_weights(session_weights_file(tmp_path_factory), weights)
    env = demo_env(tmp_path) | {"LOCKERS_RECOGNITION__WEIGHTS": str(weights)}
    done = subprocess.run(
        lockers("kiosk"), cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2, done.stderr
    assert "passive anti-spoofing check is on" in done.stderr
    assert "lockers models download --anti-spoof" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.skipif(not SAMPLE_VIDEO.is_file(), reason="the sample video is not shipped")
def test_demo_script_passes_with_the_real_passive_check(
    tmp_path: Path, anti_spoof_dir: Path
) -> None:
    env = demo_env(tmp_path) | {"LOCKERS_LIVENESS__ANTI_SPOOF_DIR": str(anti_spoof_dir)}
    done = subprocess.run(
        lockers("demo", "--script", "--offline", "--data-dir", str(tmp_path / "demo")),
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "passive anti-spoofing on" in done.stdout
    assert "script passed" in done.stdout
