"""`lockers demo` and `lockers kiosk` on a machine whose Qt plugin lacks system libraries: our
message with the `apt-get install` line before anything starts, never Qt's abort."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from lockers.cli import app
from lockers.doctor import qt
from lockers.errors import DisplayError


@pytest.mark.parametrize("command", ["demo", "kiosk"])
def test_missing_xcb_libraries_stop_start_up_with_the_apt_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: str
) -> None:
    # ui.qt_platform becomes QT_QPA_PLATFORM: restored after the test by monkeypatch.
    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")
    config = tmp_path / "config.yaml"
    config.write_text(f"data_dir: {tmp_path / 'data'}\nui: {{qt_platform: xcb}}\n", "utf-8")
    # What ldd reports on a fresh Debian machine (the report).
    monkeypatch.setattr(
        qt, "_missing_for", lambda _plugin, _platform: ["libxcb-cursor.so.0", "libxcb-icccm.so.4"]
    )
    args = ["--config", str(config), command] + (["--offline"] if command == "demo" else [])
    result = CliRunner().invoke(app, args)
    error = result.exception
    assert isinstance(error, DisplayError), result.output
    assert "xcb platform plugin cannot start" in error.message
    assert "libxcb-cursor.so.0" in error.message
    assert error.hint.startswith("sudo apt-get install libxcb-cursor0 libxcb-icccm4")
    assert not (tmp_path / "data").exists()  # nothing was started or created


def test_headless_platforms_need_no_check(monkeypatch: pytest.MonkeyPatch) -> None:
    from lockers.config import Settings

    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")
    monkeypatch.setattr(qt, "_missing_for", lambda *_: pytest.fail("checked a headless platform"))
    qt.require_platform_libraries(Settings())
    monkeypatch.setenv("QT_QPA_PLATFORM", "nope")
    with pytest.raises(DisplayError, match="no platform plugin 'nope'"):
        qt.require_platform_libraries(Settings())
