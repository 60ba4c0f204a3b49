"""``lockers board ...`` end to end against the emulator on a real pty."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from conftest import make_emulator
from typer.testing import CliRunner

from lockers.cli import app, main

CONFIG = """
board:
  protocol: {protocol}
  port: {port}
  pulse_ms: 50
  reply_timeout_s: 0.15
  poll_interval_s: 0.03
  detection_window_s: 0.3
  emulator_door_close_after_s: 0.5
lockers:
  - {{label: "A1", board: {board}, channel: 1}}
  - {{label: "A2", board: {board}, channel: 2}}
"""


def write_config(tmp_path: Path, protocol: str = "kerong", port: str = "emulator") -> Path:
    board = 1 if protocol in ("modbus", "xor") else 0
    path = tmp_path / "config.yaml"
    path.write_text(CONFIG.format(protocol=protocol, port=port, board=board), encoding="utf-8")
    return path


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


def test_status_and_open_with_the_in_process_emulator(tmp_path: Path) -> None:
    config = str(write_config(tmp_path))
    code, out = run("--config", config, "board", "status")
    assert code == 0, out
    assert "A1" in out and "closed" in out
    code, out = run("--config", config, "board", "open", "A2")
    assert code == 0, out
    assert "locker A2 (board 0 channel 2): opened" in out


def test_port_and_protocol_override_the_config(tmp_path: Path) -> None:
    config = str(write_config(tmp_path, protocol="modbus", port="/dev/ttyNOPE"))
    with make_emulator("xor", addresses=[1]) as emulator:
        code, out = run(
            "--config", config, "board", "status", "--port", emulator.port, "--protocol", "xor"
        )
        assert code == 0, out
        assert f"xor on {emulator.port}" in out
        emulator.jam(1, 1)
        code, out = run(
            "--config",
            config,
            "board",
            "test",
            "--yes",
            "--pause",
            "0",
            "--port",
            emulator.port,
            "--protocol",
            "xor",
        )
    assert code == 1
    assert "locker   A1 (board 1 channel 1): jammed" in out
    assert "A2 (board 1 channel 2): opened" in out and "1/2 lockers ok" in out


def test_silent_board_status_exits_1_with_the_reason(tmp_path: Path) -> None:
    config = str(write_config(tmp_path))
    with make_emulator("kerong") as emulator:
        emulator.set_offline(True)
        code, out = run("--config", config, "board", "status", "--port", emulator.port)
    assert code == 1
    assert "unknown" in out and "did not answer within 0.15 s" in out


def test_wrong_port_is_one_clear_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = str(write_config(tmp_path, port="/dev/ttyNOPE0"))
    monkeypatch.setattr(sys, "argv", ["lockers", "--config", config, "board", "open", "A1"])
    with pytest.raises(SystemExit) as info:
        main()
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "error: serial port /dev/ttyNOPE0 does not exist" in err
    assert "Traceback" not in err


def test_unknown_label_and_protocol(tmp_path: Path) -> None:
    config = str(write_config(tmp_path))
    with pytest.raises(Exception, match="no locker is labelled 'Z9'"):
        run("--config", config, "board", "open", "Z9")
    code, out = run("--config", config, "board", "status", "--protocol", "nope")
    assert code == 2 and "not one of" in out


def test_ports_lists_or_explains() -> None:
    code, out = run("board", "ports")
    assert code == 0
    assert "port" in out or "no serial ports found" in out


def test_emulate_prints_the_port_and_stops(tmp_path: Path) -> None:
    link = tmp_path / "ttyEMU"
    code, out = run(
        "board", "emulate", "--protocol", "modbus", "--boards", "2", "--channels", "4",
        "--jam", "1:2", "--link", str(link), "--duration", "0.2",
    )  # fmt: skip
    assert code == 0, out
    assert f"port: {link}" in out and "emulating modbus boards [1, 2] with 4 channels" in out
    assert not link.exists()
    code, out = run("board", "emulate", "--protocol", "lcus", "--boards", "2", "--duration", "0")
    assert code == 2
