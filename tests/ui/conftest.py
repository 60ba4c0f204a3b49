"""Fixtures of the UI tests: a kiosk with a scripted camera and the board emulator; for the
voice tests a sound server with a virtual sound card and the built prompts (sound_kit.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from kiosk_harness import IdentityEmbedder, ScriptedCamera, kiosk_settings
from sound_kit import build_prompts, null_sink_server

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


@pytest.fixture(scope="session")
def null_sink(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``PULSE_SERVER`` of a PulseAudio whose null sink's clock is running (one per session:
    the voice tests share it, each in its own child Python)."""
    with null_sink_server(tmp_path_factory.mktemp("pulse")) as server:
        yield server


@pytest.fixture(scope="session")
def prompts_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data directory with the Korean prompts built (``<it>/prompts/ko/*.wav``)."""
    return build_prompts(tmp_path_factory.mktemp("data"), ("ko",))
