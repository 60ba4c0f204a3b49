"""The whole kiosk (real detector, SQLite store, board emulator on a pty) while a call that can
open a door is slow, while the model fails on frames, and its periodic service jobs.

A slow call is the real service call held at a gate the test opens; every wait is on a
condition (a phase, a signal, counted beats), never on a fixed sleep.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from kiosk_harness import ScriptedCamera
from PySide6.QtCore import Qt, QThread
from test_kiosk_flows import WAIT_MS, active_rentals, click, enter_staff, wait_phase, wait_ready

from lockers.app import KioskParts
from lockers.kiosk.flow import Phase
from lockers.ui.main_window import MainWindow


class Gate:
    """Runs the real call only once the test opens the gate (a board that answers late)."""

    def __init__(self, call: Callable[..., Any]) -> None:
        self._call = call
        self.entered = threading.Event()
        self.opened = threading.Event()

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.entered.set()
        if not self.opened.wait(WAIT_MS / 1000):
            raise TimeoutError("the test never opened the gate")
        return self._call(*args, **kwargs)


def thread_name() -> str:
    """The Qt thread's object name ("main" for the UI thread): Python sees QThreads as dummies."""
    if threading.current_thread() is threading.main_thread():
        return "main"
    return QThread.currentThread().objectName()


class Beats:
    """The watchdog's progress record, as the kiosk sees it (thread-safe: appends only)."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.threads: dict[str, set[str]] = {}

    def beat(self, part: str) -> None:
        self.parts.append(part)
        self.threads.setdefault(part, set()).add(thread_name())

    def count(self, part: str) -> int:
        return self.parts.count(part)


@pytest.fixture
def beats() -> Beats:
    return Beats()


@pytest.fixture
def gated(kiosk: KioskParts) -> Iterator[Gate]:
    gate = Gate(kiosk.backend.register)
    kiosk.backend.register = gate  # type: ignore[method-assign]
    yield gate
    gate.opened.set()  # never leave the service thread waiting


@pytest.fixture
def kiosk_window(qtbot: Any, kiosk: KioskParts, beats: Beats) -> Iterator[MainWindow]:
    from lockers.ui.launch import create_window

    win, controller = create_window(
        kiosk, health_interval_s=0.3, staff_hold_ms=200, watch=beats, max_frame_failures=3
    )
    qtbot.addWidget(win)
    win.show()
    yield win
    win.close()
    controller.shutdown()


def start_register(qtbot: Any, window: MainWindow, camera: ScriptedCamera, gate: Gate) -> None:
    camera.show("person01_1")
    wait_ready(qtbot, window)
    click(qtbot, window.home.register_button)
    click(qtbot, window.consent.accept)
    wait_phase(qtbot, window, Phase.REGISTERING)
    qtbot.waitUntil(gate.entered.is_set, timeout=WAIT_MS)


def test_the_way_home_before_the_result_waits_and_the_open_door_is_shown(
    qtbot: Any,
    kiosk_window: MainWindow,
    camera: ScriptedCamera,
    kiosk: KioskParts,
    gated: Gate,
    beats: Beats,
) -> None:
    window, controller = kiosk_window, kiosk_window.controller
    start_register(qtbot, window, camera, gated)
    lines: list[str] = []
    controller.log_line.connect(lines.append)
    # The staff corner is held and the customer presses "home": neither leaves the screen.
    qtbot.mousePress(window.staff_corner, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "staff corner: waits for the running door call" in lines)
    qtbot.mouseRelease(window.staff_corner, Qt.MouseButton.LeftButton)
    controller.cancel()
    assert controller.flow.phase is Phase.REGISTERING
    assert window.current_screen is window.message
    # Nor does the idle timeout: many UI ticks (counted) after it would have fired.
    ui = beats.count("ui")
    qtbot.waitUntil(lambda: beats.count("ui") >= ui + 10, timeout=WAIT_MS)
    assert controller.flow.phase is Phase.REGISTERING
    # The slow service thread made no progress meanwhile, so it said nothing to the watchdog.
    service = beats.count("service")
    qtbot.waitUntil(lambda: beats.count("ui") >= ui + 15, timeout=WAIT_MS)
    assert beats.count("service") == service
    gated.opened.set()
    wait_phase(qtbot, window, Phase.REGISTER_OPEN)
    label = controller.flow.view.locker_label
    assert label is not None and window.message.big.text() == label
    assert [r[1] for r in active_rentals(kiosk)] == [label]
    # Now the call is over: the corner opens the staff screens.
    camera.show(None)
    enter_staff(qtbot, window)


def test_the_result_before_the_way_home_is_shown_then_home(
    qtbot: Any, kiosk_window: MainWindow, camera: ScriptedCamera, gated: Gate
) -> None:
    window, controller = kiosk_window, kiosk_window.controller
    start_register(qtbot, window, camera, gated)
    gated.opened.set()
    wait_phase(qtbot, window, Phase.REGISTER_OPEN)
    assert window.message.big.text() == controller.flow.view.locker_label
    controller.cancel()
    wait_phase(qtbot, window, Phase.HOME)
    assert window.current_screen is window.home


def test_a_model_failing_on_every_frame_is_out_of_order_then_recovers(
    qtbot: Any, qapp: Any, kiosk: KioskParts, camera: ScriptedCamera
) -> None:
    from lockers.ui.launch import create_window

    broken = threading.Event()
    build = kiosk.pipeline_factory

    def flaky_pipeline() -> Any:
        pipeline = build()
        analyse = pipeline.analyse

        def maybe_fail(*args: Any, **kwargs: Any) -> Any:
            if broken.is_set():
                raise RuntimeError("onnxruntime: CUDA out of memory")
            return analyse(*args, **kwargs)

        pipeline.analyse = maybe_fail  # type: ignore[method-assign]
        return pipeline

    kiosk.pipeline_factory = flaky_pipeline
    win, controller = create_window(kiosk, health_interval_s=0.3, max_frame_failures=3)
    qtbot.addWidget(win)
    win.show()
    try:
        camera.show("person01_1")
        wait_ready(qtbot, win)
        click(qtbot, win.home.retrieve_button)
        wait_phase(qtbot, win, Phase.RETRIEVE_SCAN)
        broken.set()
        qtbot.waitUntil(lambda: win.home.out_of_order_shown, timeout=WAIT_MS)
        status = controller.status
        assert "CUDA out of memory" in status.analysis_error
        assert status.camera_ok is True and "ooo.camera" not in status.problems
        assert "모델" in win.home.ooo_detail.text()
        assert controller.flow.phase is Phase.HOME and win.current_screen is win.home
        assert controller.camera.thread.isRunning()
        broken.clear()
        qtbot.waitUntil(lambda: controller.status.ready, timeout=WAIT_MS)
        assert not win.home.out_of_order_shown and win.home.register_button.isEnabled()
    finally:
        win.close()


def test_housekeeping_runs_on_the_service_thread_while_the_kiosk_runs(
    qtbot: Any, kiosk: KioskParts, beats: Beats
) -> None:
    from lockers.ui.launch import create_window

    threads: list[str] = []

    def housekeeping() -> str:
        threads.append(thread_name())
        return "0 rentals expired"

    kiosk.backend.housekeeping = housekeeping  # type: ignore[method-assign]
    win, controller = create_window(kiosk, housekeeping_interval_s=0.3, watch=beats)
    qtbot.addWidget(win)
    try:
        qtbot.waitUntil(lambda: len(threads) >= 2, timeout=WAIT_MS)
        assert set(threads) == {"kiosk-services"}
        # The three parts the watchdog watches each said they progress, from their own thread.
        qtbot.waitUntil(lambda: {"ui", "camera", "service"} <= set(beats.parts), timeout=WAIT_MS)
        assert beats.threads["service"] == {"kiosk-services"}
        assert beats.threads["camera"] == {"camera-worker"}
        assert beats.threads["ui"] == {"main"}
    finally:
        win.close()
        controller.shutdown()
