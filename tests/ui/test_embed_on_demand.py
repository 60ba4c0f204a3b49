"""The kiosk embeds only the frames its decision needs, in the camera worker's thread.

The whole kiosk runs (real detector and quality gate on replayed photos, SQLite file, the
board emulator on a pty); the embedder double at the model boundary counts what it is asked.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from kiosk_harness import IdentityEmbedder, ScriptedCamera, kiosk_settings
from test_kiosk_flows import click, register, wait_phase, wait_ready

from lockers.app import KioskParts, build_kiosk
from lockers.kiosk.flow import Phase
from lockers.ui.main_window import MainWindow


class CountingEmbedder(IdentityEmbedder):
    """Records each call's batch size, and the thread and phase it ran in."""

    def __init__(self, camera: ScriptedCamera) -> None:
        super().__init__(camera)
        self.calls: list[tuple[int, str]] = []
        self.threads: set[str] = set()

    def embed(self, faces: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
        self.calls.append((len(faces), self.phase()))
        self.threads.add(threading.current_thread().name)
        return super().embed(faces)

    phase: Any = staticmethod(lambda: "?")


@pytest.fixture
def counted(
    tmp_path: Path, camera: ScriptedCamera
) -> Iterator[tuple[KioskParts, CountingEmbedder]]:
    embedder = CountingEmbedder(camera)
    parts = build_kiosk(
        kiosk_settings(tmp_path),
        demo=True,
        embedder=embedder,  # type: ignore[arg-type]
        camera_factory=lambda: camera,
        liveness=False,
        flow_overrides={
            "capture_frames": 3,
            "capture_min_interval_s": 0.05,
            "capture_window_s": 0.8,
            "retrieve_frames": 5,
            "retrieve_agree_frames": 2,
        },
    )
    yield parts, embedder
    parts.close()


@pytest.fixture
def counted_window(qtbot: Any, counted: tuple[KioskParts, CountingEmbedder]) -> Iterator[Any]:
    from lockers.ui.launch import create_window

    parts, embedder = counted
    win, controller = create_window(parts, health_interval_s=0.3, staff_hold_ms=200)
    embedder.phase = lambda: controller.flow.phase.value
    qtbot.addWidget(win)
    win.show()
    yield win
    win.close()
    controller.shutdown()


def test_only_the_best_capture_frames_and_the_deciding_scan_frames_are_embedded(
    qtbot: Any,
    counted_window: MainWindow,
    camera: ScriptedCamera,
    counted: tuple[KioskParts, CountingEmbedder],
) -> None:
    window, (_, embedder) = counted_window, counted
    controller = window.controller
    camera.show("person01_1")
    wait_ready(qtbot, window)
    shown: list[int] = []
    controller.frame_ready.connect(lambda packet: shown.append(packet.index))
    # The home screen: frames shown (counted first), never analysed nor embedded.
    qtbot.waitUntil(lambda: len(shown) >= 6, timeout=8000)
    assert embedder.calls == [] and controller.worker.embedded_frames == 0

    analysed: list[int] = []
    controller.frame_ready.connect(
        lambda packet: analysed.append(packet.index) if packet.observation else None
    )
    label = register(qtbot, window, camera, "person01_1")
    # The capture window analysed many good frames but embedded none of them one by one:
    # one batch of its 3 best, once, at its end.
    assert len(analysed) > 3
    assert embedder.calls == [(3, "capture")]
    assert controller.worker.embedded_frames == 0
    assert len(controller.flow.embedded_frames) == 3
    assert set(controller.flow.embedded_frames) <= set(analysed)
    wait_phase(qtbot, window, Phase.DONE)
    click(qtbot, window.message.home)

    analysed.clear()
    embedder.calls.clear()
    click(qtbot, window.home.retrieve_button)
    wait_phase(qtbot, window, Phase.RETRIEVE_OPEN)
    assert controller.flow.view.locker_label == label
    # k = 2 consistent frames accepted early: the scan stopped embedding there (a frame
    # already being analysed when the decision came may still carry an embedding).
    assert len(controller.flow.embedded_frames) == 2
    assert 2 <= controller.worker.embedded_frames <= 3
    assert all(size == 1 and phase == "retrieve_scan" for size, phase in embedder.calls[:2])
    after = len(shown)
    qtbot.waitUntil(lambda: len(shown) >= after + 6, timeout=8000)  # frames kept coming
    assert controller.worker.embedded_frames <= 3  # nothing after the decision
    # The model only ever ran in the camera worker's thread.
    assert threading.main_thread().name not in embedder.threads
