"""Fixtures of the UI tests: a kiosk with a scripted camera and the board emulator."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from kiosk_harness import IdentityEmbedder, ScriptedCamera, kiosk_settings

from lockers.app import KioskParts, build_kiosk


@pytest.fixture(autouse=True)
def _no_leaked_windows(qapp: object) -> Iterator[None]:
    """A test that leaves a kiosk window open (and so its timers and threads) fails."""
    from PySide6.QtWidgets import QApplication

    yield
    QApplication.processEvents()
    left = [w for w in QApplication.topLevelWidgets() if w.isVisible()]
    assert not left, f"test left windows open: {left}"


@pytest.fixture
def camera() -> ScriptedCamera:
    return ScriptedCamera()


@pytest.fixture
def flow_overrides() -> dict[str, object]:
    return {"capture_frames": 3, "capture_min_interval_s": 0.05}


@pytest.fixture
def kiosk(
    tmp_path: Path, camera: ScriptedCamera, flow_overrides: dict[str, object]
) -> Iterator[KioskParts]:
    parts = build_kiosk(
        kiosk_settings(tmp_path),
        demo=True,
        embedder=IdentityEmbedder(camera),  # type: ignore[arg-type]
        camera_factory=lambda: camera,
        liveness=False,
        flow_overrides=flow_overrides,
    )
    yield parts
    parts.close()


@pytest.fixture
def window(qtbot: object, kiosk: KioskParts) -> Iterator[object]:
    from lockers.ui.launch import create_window

    win, controller = create_window(kiosk, health_interval_s=0.3, staff_hold_ms=200)
    qtbot.addWidget(win)  # type: ignore[attr-defined]
    win.show()
    yield win
    win.close()
    controller.shutdown()
