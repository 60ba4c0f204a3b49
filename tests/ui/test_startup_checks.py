"""`lockers kiosk` runs the doctor's start-up checks: failed ones keep the kiosk out of order
and are shown, with their fix, on the out-of-order screen and the staff panel."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from kiosk_harness import IdentityEmbedder, ScriptedCamera, kiosk_settings

from lockers.app import build_kiosk, run_startup_checks
from lockers.doctor import LIVE_AT_STARTUP, run_checks, system

WAIT_MS = 8000


def test_startup_checks_skip_what_the_kiosk_watches_live(tmp_path: Path) -> None:
    parts = build_kiosk(kiosk_settings(tmp_path), demo=True)
    try:
        names = {r.name.split(".")[0] for r in run_checks(parts.settings, startup=True)}
    finally:
        parts.close()
    assert not names & LIVE_AT_STARTUP
    assert {"database", "lockers", "key_file", "font", "clock", "disk"} <= names


def test_failed_startup_checks_are_on_the_out_of_order_screen(
    qtbot: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lockers.ui.launch import create_window

    monkeypatch.setattr(system, "_hangul_fonts", lambda: set())  # a site without fonts-nanum
    camera = ScriptedCamera()
    parts = build_kiosk(
        kiosk_settings(tmp_path),
        demo=True,
        embedder=IdentityEmbedder(camera),  # type: ignore[arg-type]
        camera_factory=lambda: camera,
        liveness=False,
    )
    try:
        parts.failed_checks = run_startup_checks(parts.settings)
        font = [line for line in parts.failed_checks if line.startswith("font.hangul:")]
        assert font and "→ sudo apt-get install fonts-nanum" in font[0]
        win, controller = create_window(parts, health_interval_s=0.3)
        qtbot.addWidget(win)
        win.show()
        camera.show("person01_1")
        qtbot.waitUntil(lambda: controller.status.model == "ready", timeout=WAIT_MS)
        assert controller.status.out_of_order and "ooo.checks" in controller.status.problems
        assert not controller.status.ready  # nobody can register on a broken set-up
        assert win.home.out_of_order_shown
        assert win.home.ooo_staff.isVisible()
        assert "fonts-nanum" in win.home.ooo_staff.text()
        assert "check font.hangul" in win.staff_panel.kiosk_problems.text()
        win.close()
    finally:
        parts.close()
