"""``lockers doctor --json`` on this machine: no camera, the board emulator (in-process and on a
real pty), a real SQLite file; every check's status asserted, and failures made on purpose
(missing key file, unreachable board, wrong schema, lockers out of sync) with their fix."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from lockers.cli import app
from lockers.doctor import qt, system
from lockers.doctor.runner import CHECKS
from lockers.hardware.emulator import BoardEmulator

SAMPLE_VIDEO = Path(__file__).resolve().parents[2] / "lockers" / "demo" / "sample_faces.mp4"


def write_config(tmp_path: Path, **changes: Any) -> Path:
    data: dict[str, Any] = {
        "data_dir": str(tmp_path / "data"),
        "camera": {"source": "/dev/video63"},  # no camera on this machine
        "recognition": {"weights": str(tmp_path / "models" / "vggface2.pt")},
        "board": {"protocol": "kerong", "port": "emulator", "reply_timeout_s": 0.2},
        "lockers": [{"label": str(i), "board": 0, "channel": i} for i in (1, 2, 3)],
        "privacy": {"template_key_file": str(tmp_path / "data" / "template.key")},
        "ui": {"language": "ko", "qt_platform": "offscreen"},
    }
    for key, value in changes.items():
        if isinstance(value, dict):
            data.setdefault(key, {}).update(value)
        else:
            data[key] = value
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def cli(config: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["--config", str(config), *args])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


def doctor(config: Path, *args: str) -> tuple[int, dict[str, dict[str, str]], dict[str, Any]]:
    code, out = cli(config, "doctor", "--json", "--camera-seconds", "0.5", *args)
    report = json.loads(out)
    checks = {c["name"]: c for c in report["checks"]}
    assert len(checks) == len(report["checks"]), "check names are unique"
    return code, checks, report


def set_up(config: Path) -> None:
    """What a site does first: schema and lockers, then the key (`db check` creates it)."""
    assert cli(config, "db", "upgrade")[0] == 0
    assert cli(config, "db", "check")[0] == 0


def hangul_installed() -> bool:
    if shutil.which("fc-list") is None:
        return False
    out = subprocess.run(["fc-list", ":lang=ko"], capture_output=True, text=True).stdout
    return bool(out.strip())


def test_doctor_on_this_machine_reports_every_check(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    set_up(config)
    code, checks, report = doctor(config)
    status = {name: c["status"] for name, c in checks.items()}
    assert status["python"] == "ok" and status["packages"] == "ok"
    assert status["qt.offscreen"] == "ok"
    assert status["font.hangul"] == ("ok" if hangul_installed() else "fail")
    if status["font.hangul"] == "fail":
        assert "apt-get install fonts-nanum" in checks["font.hangul"]["fix"]
    assert status["camera"] == "fail"
    assert "/dev/video63" in checks["camera"]["detail"] and checks["camera"]["fix"]
    assert status["board"] == "warn"  # the emulator answers, but it is not a real board
    assert "board 0 answers; 3 channels, doors: 3 closed" in checks["board"]["detail"]
    assert "board.port" in checks["board"]["fix"]
    assert status["weights.embedding"] == "fail"
    assert "lockers models download" in checks["weights.embedding"]["fix"]
    assert status["weights.antispoof"] == "fail"  # liveness.passive is on by default
    assert "is missing" in checks["weights.antispoof"]["detail"]
    assert "lockers models download --anti-spoof" in checks["weights.antispoof"]["fix"]
    assert status["database"] == "ok" and status["database.schema"] == "ok"
    assert status["lockers"] == "ok" and "3 lockers, as configured" in checks["lockers"]["detail"]
    assert status["key_file"] == "ok" and "mode 0600" in checks["key_file"]["detail"]
    assert status["user.groups"] == ("warn" if os.getuid() == 0 else status["user.groups"])
    assert status["disk"] == "ok" and "GiB free" in checks["disk"]["detail"]
    assert status["clock"] in ("ok", "warn")  # no time sync daemon in a container: warn
    for check in checks.values():
        assert check["status"] == "ok" or check["fix"], f"{check['name']} has no fix text"
    assert report["status"] == "fail" and code == 1  # no camera, no weights
    assert report["kiosk_id"] == "kiosk-1" and report["host"] and report["checked_at"]
    assert report["summary"]["fail"] == sum(s == "fail" for s in status.values())


def test_doctor_failures_made_on_purpose(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    set_up(config)
    (tmp_path / "data" / "template.key").unlink()
    # One board answers on the pty, the second configured one (address 1) does not.
    with BoardEmulator("kerong", addresses=[0], channels=3) as emulator:
        write_config(
            tmp_path,
            board={"port": emulator.port},
            lockers=[
                {"label": "1", "board": 0, "channel": 1},
                {"label": "2", "board": 0, "channel": 2},
                {"label": "3", "board": 1, "channel": 1},
                {"label": "4", "board": 1, "channel": 2},  # not in the database yet
            ],
        )
        code, checks, _ = doctor(config, "--skip", "qt", "--skip", "camera")
    assert code == 1
    assert "qt.offscreen" not in checks and "camera" not in checks
    board = checks["board"]
    assert board["status"] == "fail"
    assert "1 of 2 boards do not answer" in board["detail"] and "board 1:" in board["detail"]
    assert "DIP switches" in board["fix"]
    key = checks["key_file"]
    assert key["status"] == "fail" and "does not exist" in key["detail"]
    assert "lockers db check" in key["fix"]
    lockers = checks["lockers"]
    assert lockers["status"] == "fail" and "4 not in the database" in lockers["detail"]
    assert "3 is board 0 ch 3" in lockers["detail"] and "lockers db sync-lockers" in lockers["fix"]


def test_doctor_wrong_schema_and_missing_port(tmp_path: Path) -> None:
    config = write_config(tmp_path, board={"port": "/dev/ttyNOPE"})
    (tmp_path / "data").mkdir()
    sqlite3.connect(tmp_path / "data" / "lockers.db").close()  # a file, but no schema
    code, checks, _ = doctor(config, "--skip", "qt", "--skip", "camera")
    assert code == 1
    assert checks["database"]["status"] == "ok"
    schema = checks["database.schema"]
    assert schema["status"] == "fail" and "no schema yet" in schema["detail"]
    assert "lockers db upgrade" in schema["fix"]
    assert "lockers" not in checks  # not checked against a database without a schema
    assert checks["board"]["status"] == "fail" and "/dev/ttyNOPE" in checks["board"]["detail"]
    assert checks["board"]["fix"]


def test_doctor_without_a_database_file_creates_nothing(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    code, checks, _ = doctor(config, "--skip", "qt", "--skip", "camera", "--skip", "board")
    assert checks["database"]["status"] == "fail"
    assert "lockers db upgrade" in checks["database"]["fix"]
    assert not (tmp_path / "data" / "lockers.db").exists()
    assert code == 1


def test_doctor_with_a_replayed_video_measures_its_frames(tmp_path: Path) -> None:
    config = write_config(tmp_path, camera={"source": str(SAMPLE_VIDEO), "fps": 10})
    only_camera = [a for n in CHECKS if n != "camera" for a in ("--skip", n)]
    _, checks, _ = doctor(config, *only_camera)
    assert list(checks) == ["camera"]
    camera = checks["camera"]
    assert camera["status"] == "warn" and "a replayed file, not a camera" in camera["detail"]
    assert "640x480" in camera["detail"] and " fps measured over " in camera["detail"]


def test_doctor_reports_an_invalid_config_as_a_check(tmp_path: Path) -> None:
    config = write_config(tmp_path, ui={"language": "fr"})
    code, checks, report = doctor(config)
    assert code == 1 and list(checks) == ["config"] and report["status"] == "fail"
    assert "ui.language" in checks["config"]["detail"]


def test_doctor_table_and_unknown_skip(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    code, out = cli(config, "doctor", "--skip", "qt", "--skip", "camera", "--skip", "board")
    assert code == 1 and "database" in out and "upgrade" in out  # wrapped at 80 columns
    assert "fail:" in out.splitlines()[-1]
    code, out = cli(config, "doctor", "--skip", "kamera")
    assert code == 2 and "unknown ['kamera']" in out


# -- single checks, fed what this machine cannot show -----------------------------------------

LDD = """\
\tlinux-vdso.so.1 (0x00007ffd)
\tlibQt6XcbQpa.so.6 => /venv/PySide6/Qt/lib/libQt6XcbQpa.so.6 (0x00007f)
\tlibxcb-icccm.so.4 => not found
\tlibxcb-keysyms.so.1 => not found
\tlibxcb-icccm.so.4 => not found
\tlibxkbcommon-x11.so.0 => not found
"""


def test_qt_missing_libraries_become_one_apt_line() -> None:
    missing = qt.missing_libraries(LDD)
    assert missing == ["libxcb-icccm.so.4", "libxcb-keysyms.so.1", "libxkbcommon-x11.so.0"]
    assert qt.apt_line([*missing, "libxcb-cursor.so.0"]) == (
        "sudo apt-get install libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxkbcommon-x11-0"
    )
    assert qt.debian_package("libfoo-bar.so.3.1") == "libfoo-bar3"
    assert qt.debian_package("libfoo2.so.0") == "libfoo2-0"  # a digit at the end: a dash


def test_qt_xcb_on_this_machine_is_diagnosed_with_the_fix() -> None:
    result = qt._check_one("xcb")
    assert result.name == "qt.xcb"
    if result.status.value == "fail":
        assert "lacks system libraries" in result.detail or "fails to load" in result.detail
        assert result.fix
    if "lacks system libraries" in result.detail:
        assert result.fix.startswith("sudo apt-get install lib")
    unknown = qt._check_one("nope")
    assert unknown.status.value == "fail" and "xcb" in unknown.fix and "eglfs" in unknown.fix


def test_clock_checks() -> None:
    now = datetime(2026, 12, 3, 8, 0, tzinfo=UTC)
    never_set = system.check_clock(None, now=datetime(1970, 1, 2, tzinfo=UTC))
    assert never_set.status.value == "fail" and "never set" in never_set.detail
    back = system.check_clock(now + timedelta(hours=2), now=now)
    assert back.status.value == "fail" and "the clock went back" in back.detail
    assert "timedatectl" in back.fix
    assert system.check_clock(now - timedelta(minutes=1), now=now).status.value in ("ok", "warn")


@pytest.mark.parametrize("language, expected", [("ko", "fail"), ("en", "warn")])
def test_missing_hangul_font_fails_only_for_a_korean_kiosk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, language: str, expected: str
) -> None:
    from lockers.config import load_settings

    settings = load_settings(write_config(tmp_path, ui={"language": language}))
    monkeypatch.setattr(system, "_hangul_fonts", lambda: set())
    result = system.check_hangul_font(settings)
    assert result.status.value == expected and "fonts-nanum" in result.fix
    monkeypatch.setattr(system, "_hangul_fonts", lambda: {"NanumGothic"})
    assert system.check_hangul_font(settings).status.value == "ok"


def test_key_file_readable_by_others_fails_with_chmod(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    set_up(config)
    key = tmp_path / "data" / "template.key"
    key.chmod(0o644)
    _, checks, _ = doctor(config, "--skip", "qt", "--skip", "camera", "--skip", "board")
    assert checks["key_file"]["status"] == "fail"
    assert f"chmod 600 {key}" in checks["key_file"]["fix"]


def test_doctor_verifies_the_anti_spoofing_models_or_says_the_check_is_off(
    tmp_path: Path, anti_spoof_dir: Path
) -> None:
    config = write_config(tmp_path, liveness={"anti_spoof_dir": str(anti_spoof_dir)})
    _, checks, _ = doctor(config, "--skip", "camera")
    assert checks["weights.antispoof"]["status"] == "ok"
    assert checks["weights.antispoof"]["detail"].count("verified") == 2

    config = write_config(tmp_path, liveness={"passive": "off"})
    _, checks, _ = doctor(config, "--skip", "camera")
    assert checks["weights.antispoof"]["status"] == "warn"
    assert "liveness.passive is off" in checks["weights.antispoof"]["detail"]


def test_doctor_shows_weakened_liveness_as_a_warning_not_a_failure(tmp_path: Path) -> None:
    skip = [a for n in ("qt", "camera", "board") for a in ("--skip", n)]
    _, checks, _ = doctor(write_config(tmp_path), *skip)
    assert checks["liveness"]["status"] == "ok"
    assert "confident 0.82" in checks["liveness"]["detail"]
    assert "1 head move" in checks["liveness"]["detail"]

    config = write_config(tmp_path, liveness={"register_turns": 0, "passive": "off"})
    _, checks, _ = doctor(config, *skip)
    liveness = checks["liveness"]
    assert liveness["status"] == "warn"  # visible, never failing
    assert "register_turns is 0" in liveness["detail"]
    assert "liveness.passive is off" in liveness["detail"]
    assert "register_turns: 1" in liveness["fix"]
