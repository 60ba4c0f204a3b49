"""Complete kiosk flows driven through the screens with pytest-qt."""

from __future__ import annotations

from typing import Any

import pytest
from kiosk_harness import ScriptedCamera
from PySide6.QtCore import Qt

from lockers.app import KioskParts
from lockers.kiosk.flow import Phase, Problem
from lockers.store import rentals
from lockers.store.models import Locker, Rental, RentalState
from lockers.ui.main_window import MainWindow
from lockers.vision.liveness import LivenessConfig

WAIT_MS = 8000


def click(qtbot: Any, widget: Any) -> None:
    assert widget.isVisible() and widget.isEnabled(), widget
    qtbot.mouseClick(widget, Qt.MouseButton.LeftButton)


def wait_phase(qtbot: Any, window: MainWindow, phase: Phase, timeout: int = WAIT_MS) -> None:
    qtbot.waitUntil(lambda: window.controller.flow.phase is phase, timeout=timeout)


def wait_ready(qtbot: Any, window: MainWindow) -> None:
    qtbot.waitUntil(
        lambda: window.controller.status.ready and window.controller.status.health is not None,
        timeout=WAIT_MS,
    )


def register(qtbot: Any, window: MainWindow, camera: ScriptedCamera, photo: str) -> str:
    camera.show(photo)
    wait_ready(qtbot, window)
    click(qtbot, window.home.register_button)
    assert window.current_screen is window.consent
    click(qtbot, window.consent.accept)
    qtbot.waitUntil(
        lambda: window.controller.flow.phase in (Phase.REGISTER_OPEN, Phase.FAILED, Phase.DONE),
        timeout=WAIT_MS,
    )
    view = window.controller.flow.view
    assert view.phase in (Phase.REGISTER_OPEN, Phase.DONE), view
    assert view.locker_label is not None
    return view.locker_label


def active_rentals(kiosk: KioskParts) -> list[tuple[int, str, str | None]]:
    database = kiosk.backend.store.database
    with database.transaction() as session:
        found = session.query(Rental).filter(Rental.state == RentalState.ACTIVE).all()
        return [(r.id, r.locker.label, r.locker.attention) for r in found]


def template_count(kiosk: KioskParts) -> int:
    with kiosk.backend.store.database.transaction() as session:
        return rentals.count_templates(session)


def test_register_then_retrieve_opens_the_same_locker_and_deletes_the_template(
    qtbot: Any, window: MainWindow, camera: ScriptedCamera, kiosk: KioskParts
) -> None:
    emulator = kiosk.emulator
    assert emulator is not None
    label = register(qtbot, window, camera, "person01_1")
    assert window.current_screen is window.message
    assert window.message.big.text() == label
    channel = int(label)
    assert emulator.pulse_count(0, channel) == 1
    assert template_count(kiosk) >= 3
    assert [r[1] for r in active_rentals(kiosk)] == [label]
    # The emulated door closes by itself; the kiosk sees it and says thank you, then home.
    wait_phase(qtbot, window, Phase.DONE)
    click(qtbot, window.message.home)
    assert window.current_screen is window.home

    camera.show("person01_2")  # the same person, another photo
    click(qtbot, window.home.retrieve_button)
    assert window.current_screen is window.camera
    qtbot.waitUntil(
        lambda: (
            window.controller.flow.phase
            in (Phase.RETRIEVE_OPEN, Phase.DONE, Phase.FAILED, Phase.NOT_RECOGNISED)
        ),
        timeout=WAIT_MS,
    )
    view = window.controller.flow.view
    assert view.locker_label == label and view.problem is None
    assert emulator.pulse_count(0, channel) == 2
    assert active_rentals(kiosk) == []
    assert template_count(kiosk) == 0
    assert not window.controller.flow.holds_face_data


def test_a_different_person_is_refused(
    qtbot: Any, window: MainWindow, camera: ScriptedCamera, kiosk: KioskParts
) -> None:
    emulator = kiosk.emulator
    assert emulator is not None
    label = register(qtbot, window, camera, "person01_1")
    wait_phase(qtbot, window, Phase.DONE)
    click(qtbot, window.message.home)
    camera.show("person03_1")
    click(qtbot, window.home.retrieve_button)
    wait_phase(qtbot, window, Phase.NOT_RECOGNISED)
    assert window.current_screen is window.message
    assert window.message.retry.isVisible() and window.message.staff_call.isVisible()
    assert emulator.pulse_count(0, int(label)) == 1  # never opened for the stranger
    assert [r[1] for r in active_rentals(kiosk)] == [label]
    # The owner can still collect: retry with the right face.
    camera.show("person01_2")
    click(qtbot, window.message.retry)
    wait_phase(qtbot, window, Phase.RETRIEVE_OPEN)
    assert window.controller.flow.view.locker_label == label


def test_two_people_in_frame_never_decide(
    qtbot: Any, window: MainWindow, camera: ScriptedCamera
) -> None:
    camera.show("couple")
    wait_ready(qtbot, window)
    click(qtbot, window.home.retrieve_button)
    qtbot.waitUntil(
        lambda: window.controller.flow.view.guidance in ("step_back", "multiple_faces"),
        timeout=WAIT_MS,
    )
    # Many more analysed frames of the couple (counted, not waited for by the clock).
    analysed: list[int] = []
    window.controller.frame_ready.connect(
        lambda packet: analysed.append(packet.index) if packet.observation else None
    )
    qtbot.waitUntil(lambda: len(analysed) >= 10, timeout=WAIT_MS)
    assert window.controller.flow.phase is Phase.RETRIEVE_SCAN
    assert window.controller.flow.view.captured == 0
    assert "한 분만" in window.camera.guidance.text()


def test_a_door_that_never_opens_calls_staff_and_leaves_no_orphan_rental(
    qtbot: Any, window: MainWindow, camera: ScriptedCamera, kiosk: KioskParts
) -> None:
    emulator = kiosk.emulator
    assert emulator is not None
    for channel in range(1, 5):
        emulator.jam(0, channel)
    camera.show("person01_1")
    wait_ready(qtbot, window)
    click(qtbot, window.home.register_button)
    click(qtbot, window.consent.accept)
    wait_phase(qtbot, window, Phase.FAILED)
    view = window.controller.flow.view
    assert view.problem is Problem.DOOR_NOT_CONFIRMED
    assert window.message.staff_call.isVisible()
    assert "직원" in window.message.staff_call.text()
    assert not window.message.retry.isVisible()
    # The door never opened: no rental and no face data are kept; staff are alerted.
    assert active_rentals(kiosk) == []
    qtbot.waitUntil(
        lambda: (
            any("attention" in a or "jam" in a for a in window.controller.status.health.alerts)
            if window.controller.status.health
            else False
        ),
        timeout=WAIT_MS,
    )


@pytest.mark.parametrize("flow_overrides", [{"capture_frames": 50, "idle_timeout_s": 1.0}])
def test_idle_timeout_returns_home_and_discards_face_data(
    qtbot: Any, window: MainWindow, camera: ScriptedCamera, kiosk: KioskParts
) -> None:
    camera.show("person01_1")
    wait_ready(qtbot, window)
    click(qtbot, window.home.register_button)
    click(qtbot, window.consent.accept)
    qtbot.waitUntil(lambda: window.controller.flow.view.captured >= 2, timeout=WAIT_MS)
    assert window.controller.flow.holds_face_data
    wait_phase(qtbot, window, Phase.HOME, timeout=4000)
    assert window.current_screen is window.home
    assert not window.controller.flow.holds_face_data
    assert window.camera.preview._packet is None  # no picture of the customer is kept either
    assert active_rentals(kiosk) == []


@pytest.mark.parametrize("flow_overrides", [{"idle_timeout_s": 1.0}])
def test_language_switch_and_back_to_default_when_idle(
    qtbot: Any, window: MainWindow, camera: ScriptedCamera
) -> None:
    camera.show(None)
    wait_ready(qtbot, window)
    assert window.home.register_button.title.text() == "물건 맡기기"
    click(qtbot, window.language_button)
    assert window.controller.language == "en"
    assert window.home.register_button.title.text() == "Store my things"
    assert window.language_button.text() == "한국어"
    click(qtbot, window.home.register_button)
    assert window.consent.accept.text() == "I agree"
    click(qtbot, window.consent.decline)
    # Home again, and the same person is still there: their language stays...
    assert window.current_screen is window.home
    assert window.controller.language == "en"
    # ...until nobody has touched the kiosk for the idle timeout: the next customer gets ko.
    qtbot.waitUntil(lambda: window.controller.language == "ko", timeout=4000)
    assert window.consent.accept.text() == "동의합니다"
    assert window.home.register_button.title.text() == "물건 맡기기"


def test_camera_offline_shows_out_of_order_and_recovers(
    qtbot: Any, window: MainWindow, camera: ScriptedCamera
) -> None:
    camera.show(None)
    wait_ready(qtbot, window)
    camera.offline(True)
    qtbot.waitUntil(lambda: window.home.out_of_order_shown, timeout=WAIT_MS)
    assert "카메라" in window.home.ooo_detail.text()
    camera.offline(False)
    qtbot.waitUntil(lambda: not window.home.out_of_order_shown, timeout=WAIT_MS)
    assert window.home.register_button.isEnabled()


def test_board_offline_shows_out_of_order(
    qtbot: Any, window: MainWindow, camera: ScriptedCamera, kiosk: KioskParts
) -> None:
    assert kiosk.emulator is not None
    camera.show(None)
    wait_ready(qtbot, window)
    kiosk.emulator.set_offline(True)
    qtbot.waitUntil(lambda: window.home.out_of_order_shown, timeout=WAIT_MS)
    assert not window.home.register_button.isEnabled()
    kiosk.emulator.set_offline(False)
    qtbot.waitUntil(lambda: not window.home.out_of_order_shown, timeout=WAIT_MS)


def enter_staff(qtbot: Any, window: MainWindow) -> None:
    # Held until the corner fires (no fixed wait: a loaded machine may take longer).
    with qtbot.waitSignal(window.staff_corner.activated, timeout=WAIT_MS):
        qtbot.mousePress(window.staff_corner, Qt.MouseButton.LeftButton)
    qtbot.mouseRelease(window.staff_corner, Qt.MouseButton.LeftButton)
    assert window.current_screen is window.staff_login


def pick_staff(qtbot: Any, window: MainWindow, name: str) -> None:
    """Tap the staff member's name tile (touch only: no name is typed)."""
    login = window.staff_login
    qtbot.waitUntil(lambda: name in login.tiles, timeout=WAIT_MS)
    click(qtbot, login.tiles[name])
    assert login.selected == name


def type_pin(qtbot: Any, window: MainWindow, pin: str) -> None:
    pad = window.staff_login.pad
    for digit in pin:
        click(qtbot, pad.keys[digit])
    click(qtbot, pad.ok_key)


def test_staff_pin_lockout(qtbot: Any, window: MainWindow, camera: ScriptedCamera) -> None:
    camera.show(None)
    enter_staff(qtbot, window)
    pick_staff(qtbot, window, "staff")
    for attempt in range(5):
        type_pin(qtbot, window, "9999")
        qtbot.waitUntil(lambda: not window.controller.staff.busy, timeout=WAIT_MS)
        assert window.controller.staff.session is None, attempt
    assert window.controller.staff.locked_for_s > 0
    assert "잠겼습니다" in window.staff_login.message.text()
    type_pin(qtbot, window, "1234")  # the right PIN, but locked out
    qtbot.waitUntil(lambda: not window.controller.staff.busy, timeout=WAIT_MS)
    assert window.controller.staff.session is None
    assert window.current_screen is window.staff_login


def test_staff_sees_the_grid_and_resets_a_locker(
    qtbot: Any, window: MainWindow, camera: ScriptedCamera, kiosk: KioskParts
) -> None:
    label = register(qtbot, window, camera, "person01_1")
    wait_phase(qtbot, window, Phase.DONE)
    camera.show(None)
    enter_staff(qtbot, window)
    pick_staff(qtbot, window, "staff")
    type_pin(qtbot, window, "1234")
    qtbot.waitUntil(lambda: window.current_screen is window.staff_panel, timeout=WAIT_MS)
    panel = window.staff_panel
    qtbot.waitUntil(lambda: len(panel.tiles) == 4, timeout=WAIT_MS)
    assert panel.tiles[label].property("locker_state") == "occupied"
    assert panel.tiles["4"].property("locker_state") == "available"
    qtbot.waitUntil(lambda: panel.audit.rowCount() > 0, timeout=WAIT_MS)
    click(qtbot, panel.tiles[label])
    click(qtbot, panel.reset_button)  # no reason yet: the reason picker, nothing done
    assert panel.picking_reason and active_rentals(kiosk) != []
    click(qtbot, panel.reason_picker.preset_buttons[1])  # "rental ended at the customer's..."
    click(qtbot, panel.reason_picker.confirm_button)
    qtbot.waitUntil(
        lambda: panel.tiles[label].property("locker_state") == "available", timeout=WAIT_MS
    )
    assert active_rentals(kiosk) == []
    assert template_count(kiosk) == 0
    click(qtbot, panel.logout_button)
    assert window.current_screen is window.home


def test_shutdown_stops_every_thread(qtbot: Any, kiosk: KioskParts, camera: ScriptedCamera) -> None:
    from lockers.ui.launch import create_window

    win, controller = create_window(kiosk, health_interval_s=0.3)
    qtbot.addWidget(win)
    camera.show("person01_1")
    qtbot.waitUntil(lambda: controller.status.ready, timeout=WAIT_MS)
    running = camera.reads
    qtbot.waitUntil(lambda: camera.reads > running + 2, timeout=WAIT_MS)  # it was reading
    win.close()
    assert not controller.camera.thread.isRunning()
    assert not controller.runner._thread.isRunning()
    reads = camera.reads
    # Joined threads read nothing more: the camera's own pace would have given several frames
    # in the time events are processed here (the thread is gone, so nothing can race this).
    qtbot.wait(200)
    assert camera.reads == reads


def test_model_missing_is_out_of_order(qtbot: Any, tmp_path: Any) -> None:
    from kiosk_harness import kiosk_settings

    from lockers.app import build_kiosk
    from lockers.ui.launch import create_window

    camera = ScriptedCamera()
    parts = build_kiosk(kiosk_settings(tmp_path), demo=True, camera_factory=lambda: camera)
    try:
        win, controller = create_window(parts)
        qtbot.addWidget(win)
        qtbot.waitUntil(lambda: controller.status.model == "failed", timeout=WAIT_MS)
        assert win.home.out_of_order_shown
        assert "모델" in win.home.ooo_detail.text()
        win.close()
    finally:
        parts.close()


def test_locker_table_has_no_orm_leak() -> None:
    # The screens import DTOs only; this guards the layering promise cheaply.
    import lockers.ui.controller as controller_module

    assert not hasattr(controller_module, "Locker")
    assert Locker.__tablename__ == "lockers"


@pytest.mark.parametrize(
    "flow_overrides",
    [{"capture_frames": 2, "liveness": LivenessConfig(timeout_s=1.5, max_gap_s=1.0)}],
)
def test_a_photo_held_to_the_camera_fails_the_liveness_check(
    qtbot: Any, window: MainWindow, camera: ScriptedCamera, kiosk: KioskParts
) -> None:
    camera.show("person01_1")  # a still picture cannot turn its head
    wait_ready(qtbot, window)
    click(qtbot, window.home.register_button)
    click(qtbot, window.consent.accept)
    wait_phase(qtbot, window, Phase.LIVENESS)
    turns = ("고개를 왼쪽으로 돌려 주세요", "고개를 오른쪽으로 돌려 주세요")
    qtbot.waitUntil(lambda: window.camera.guidance.text() in turns, timeout=WAIT_MS)
    assert window.camera.prompt.text() in ("⬅", "➡")
    wait_phase(qtbot, window, Phase.FAILED, timeout=5000)
    assert window.controller.flow.view.problem is Problem.LIVENESS_FAILED
    assert window.message.retry.isVisible()
    assert active_rentals(kiosk) == [] and template_count(kiosk) == 0
    assert not window.controller.flow.holds_face_data


def test_staff_are_logged_out_after_inactivity(
    qtbot: Any, kiosk: KioskParts, camera: ScriptedCamera
) -> None:
    from lockers.ui.launch import create_window

    camera.show(None)
    win, controller = create_window(kiosk, staff_hold_ms=200, staff_idle_s=1.0)
    qtbot.addWidget(win)
    win.show()
    enter_staff(qtbot, win)
    pick_staff(qtbot, win, "staff")
    type_pin(qtbot, win, "1234")
    qtbot.waitUntil(lambda: win.current_screen is win.staff_panel, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: win.current_screen is win.home, timeout=4000)
    assert controller.staff.session is None
    win.close()


def test_staff_see_overdue_rentals_and_filter_the_audit_log(
    qtbot: Any, tmp_path: Any, camera: ScriptedCamera
) -> None:
    from datetime import UTC, datetime, timedelta

    from kiosk_harness import IdentityEmbedder, kiosk_settings

    from lockers.app import build_kiosk
    from lockers.ui.launch import create_window

    shift = [timedelta(0)]

    def clock() -> datetime:
        return datetime.now(UTC) + shift[0]

    parts = build_kiosk(
        kiosk_settings(tmp_path),
        demo=True,
        embedder=IdentityEmbedder(camera),  # type: ignore[arg-type]
        camera_factory=lambda: camera,
        liveness=False,
        flow_overrides={"capture_frames": 3, "capture_min_interval_s": 0.05},
        clock=clock,
    )
    try:
        win, _controller = create_window(parts, health_interval_s=0.3, staff_hold_ms=200)
        qtbot.addWidget(win)
        win.show()
        label = register(qtbot, win, camera, "person01_1")
        wait_phase(qtbot, win, Phase.DONE)
        camera.show(None)
        shift[0] = timedelta(hours=25)  # past the 24 h rental
        enter_staff(qtbot, win)
        pick_staff(qtbot, win, "staff")
        type_pin(qtbot, win, "1234")
        panel = win.staff_panel
        qtbot.waitUntil(lambda: len(panel.tiles) == 4, timeout=WAIT_MS)
        assert panel.tiles[label].property("locker_state") == "overdue"
        assert panel.overdue.rowCount() == 1
        assert panel.overdue.item(0, 0).text() == label
        qtbot.waitUntil(lambda: panel.audit.rowCount() > 2, timeout=WAIT_MS)
        panel.tabs.setCurrentIndex(2)  # the audit tab
        panel.action_filter.setCurrentIndex(panel.action_filter.findData("register"))
        assert panel.action_filter.currentText() == "맡기기"  # shown in the staff's language
        click(qtbot, panel.apply_filter)
        qtbot.waitUntil(
            lambda: (
                {panel.audit.item(r, 2).text() for r in range(panel.audit.rowCount())}
                == {"register"}
            ),
            timeout=WAIT_MS,
        )
        win.close()
    finally:
        parts.close()
