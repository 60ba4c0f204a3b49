"""First-run set-up as a new site does it: `db upgrade` creates the lockers, `board open
--protocol` names the key to change, on a real SQLite file and the board emulator."""

from __future__ import annotations

from pathlib import Path

import yaml
from typer.testing import CliRunner

from lockers.cli import app
from lockers.errors import ConfigError

LOCKERS = [
    {"label": "1", "board": 0, "channel": 1},
    {"label": "2", "board": 0, "channel": 2},
    {"label": "3", "board": 0, "channel": 3},
]


def write_config(tmp_path: Path, lockers: list[dict[str, object]] | None = None) -> Path:
    data = {
        "data_dir": str(tmp_path / "data"),
        "board": {
            "protocol": "kerong",
            "port": "emulator",
            "pulse_ms": 50,
            "reply_timeout_s": 0.15,
            "poll_interval_s": 0.03,
            "detection_window_s": 0.3,
        },
        "lockers": LOCKERS if lockers is None else lockers,
        "privacy": {"template_key_file": str(tmp_path / "data" / "template.key")},
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def run(config: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["--config", str(config), *args])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


def test_db_upgrade_creates_the_configured_lockers_once(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    code, out = run(config, "db", "upgrade")
    assert code == 0
    assert "created 3 lockers from the config: 1, 2, 3" in out
    code, out = run(config, "lockers", "list")
    assert code == 0 and all(f"\n│ {label} " in out or f"{label}  " in out for label in "123")
    # A second upgrade leaves the lockers to `db sync-lockers` (which may refuse a change).
    write_config(tmp_path, [*LOCKERS, {"label": "4", "board": 0, "channel": 4}])
    code, out = run(config, "db", "upgrade")
    assert code == 0 and "already at" in out and "created" not in out
    code, out = run(config, "db", "sync-lockers")
    assert code == 0 and "added locker 4" in out


def test_db_upgrade_without_lockers_says_what_to_add(tmp_path: Path) -> None:
    code, out = run(write_config(tmp_path, []), "db", "upgrade")
    assert code == 0 and "no lockers configured" in out and "lockers db sync-lockers" in out


def test_board_open_with_another_protocol_names_the_key_to_set(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    result = CliRunner().invoke(
        app, ["--config", str(config), "board", "open", "3", "--protocol", "modbus"]
    )
    error = result.exception
    assert isinstance(error, ConfigError)  # main() prints it as error + hint, exit code 2
    assert "--protocol modbus" in error.message and "wired for kerong (board 0)" in error.message
    assert "boards 1-247" in error.message and "Waveshare default 1" in error.message
    assert "`board: <address>` on each entry of `lockers:`" in error.hint
    assert '{label: "1", board: 1, channel: 1}' in error.hint
    assert "board.protocol: modbus" in error.hint
    # The same protocol as configured, or one that accepts board 0, opens as before.
    code, out = run(write_config(tmp_path), "board", "open", "3", "--protocol", "kerong")
    assert code == 0 and "opened" in out


def test_the_demo_lockers_sit_where_each_protocol_expects_its_board(tmp_path: Path) -> None:
    from lockers.app import demo_settings
    from lockers.config import Settings
    from lockers.hardware.boards import DRIVERS, open_board

    for protocol, driver in DRIVERS.items():
        settings = demo_settings(
            Settings.model_validate({"board": {"protocol": protocol}}), tmp_path / protocol
        )
        low, high = driver.board_range
        assert settings.lockers and all(low <= x.board <= high for x in settings.lockers)
        if protocol == "modbus":  # the emulator answers where the demo's lockers are
            with open_board(settings.board, settings.lockers) as board:
                assert board.healthy() or board.door_states()
