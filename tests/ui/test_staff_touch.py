"""Every staff action by taps alone (pytest-qt): log in by name tile or staff number, open,
out of service (a reason that needs a note, typed on the on-screen keyboard), back in
service, reset, cancel, audit filters, log out. No screen has a field a keyboard must fill."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLineEdit

from lockers.app import KioskParts
from lockers.ui.main_window import MainWindow

WAIT_MS = 8000


def tap(qtbot: Any, widget: Any) -> None:
    assert widget.isVisible() and widget.isEnabled(), widget
    qtbot.mouseClick(widget, Qt.MouseButton.LeftButton)


def enter_staff(qtbot: Any, window: MainWindow) -> None:
    # Held until the corner fires (no fixed wait: a loaded machine may take longer).
    with qtbot.waitSignal(window.staff_corner.activated, timeout=WAIT_MS):
        qtbot.mousePress(window.staff_corner, Qt.MouseButton.LeftButton)
    qtbot.mouseRelease(window.staff_corner, Qt.MouseButton.LeftButton)
    assert window.current_screen is window.staff_login


def tap_digits(qtbot: Any, window: MainWindow, digits: str) -> None:
    pad = window.staff_login.pad
    for digit in digits:
        tap(qtbot, pad.keys[digit])
    tap(qtbot, pad.ok_key)


def audit_reasons(kiosk: KioskParts, action: str) -> list[str]:
    from lockers.store import audit

    with kiosk.backend.store.database.transaction() as session:
        return [e.reason or "" for e in audit.recent(session, action=action)]


def wait_idle(qtbot: Any, window: MainWindow) -> None:
    """The last action has come back (an open waits for the door): buttons are enabled."""
    qtbot.waitUntil(lambda: not window.controller.staff.busy, timeout=WAIT_MS)


def tile_state(window: MainWindow, label: str) -> str:
    return str(window.staff_panel.tiles[label].property("locker_state"))


def test_every_staff_action_by_taps_alone(
    qtbot: Any, window: MainWindow, kiosk: KioskParts
) -> None:
    kiosk.backend.staff.add_staff("민수", "24680", actor="test")
    enter_staff(qtbot, window)
    login = window.staff_login
    qtbot.waitUntil(lambda: {"staff", "민수"} <= set(login.tiles), timeout=WAIT_MS)
    assert login.prompt.text() == "이름을 누르거나 직원 번호를 입력하세요"

    # A staff number that does not exist, then the right one: the pad picks the name.
    tap_digits(qtbot, window, "999")
    assert "999" in login.message.text() and login.selected is None
    number = next(e.number for e in kiosk.backend.staff.directory() if e.name == "민수")
    tap_digits(qtbot, window, str(number))
    assert login.selected == "민수" and login.prompt.text() == "민수 님의 PIN"
    tap_digits(qtbot, window, "24680")
    qtbot.waitUntil(lambda: window.current_screen is window.staff_panel, timeout=WAIT_MS)
    panel = window.staff_panel
    picker = panel.reason_picker
    qtbot.waitUntil(lambda: len(panel.tiles) == 4, timeout=WAIT_MS)

    # Open a door: a preset reason and a Korean note typed on the on-screen keyboard.
    tap(qtbot, panel.tiles["2"])
    tap(qtbot, panel.open_button)
    assert panel.picking_reason and "2번 보관함 문 열기" in picker.title.text()
    assert not picker.confirm_button.isEnabled()  # nothing chosen yet
    tap(qtbot, picker.preset_buttons[2])  # 점검 / 청소
    tap(qtbot, picker.note)  # tapping the note field opens the keyboard
    assert picker.keyboard.isVisible() and picker.keyboard.layout_name == "ko"
    # The keyboard takes the presets' place; the chosen one stays in the title.
    assert not picker.preset_buttons[0].isVisible()
    assert picker.title.text() == "2번 보관함 문 열기: 점검 / 청소"
    for jamo in "ㅁㅜㄴ":
        tap(qtbot, picker.keyboard.key_for(jamo))
    assert picker.note.text() == "문"
    tap(qtbot, picker.keyboard.done_key)
    assert picker.preset_buttons[0].isVisible() and not picker.keyboard.isVisible()
    tap(qtbot, picker.confirm_button)
    assert not panel.picking_reason
    qtbot.waitUntil(
        lambda: "점검 / 청소: 문" in audit_reasons(kiosk, "force_open"), timeout=WAIT_MS
    )

    wait_idle(qtbot, window)

    # Out of service with "other": a note is required; typed on the English layout.
    tap(qtbot, panel.tiles["3"])
    tap(qtbot, panel.oos_button)
    tap(qtbot, picker.preset_buttons[-1])  # 기타 (other)
    tap(qtbot, picker.confirm_button)
    assert panel.picking_reason and "메모" in picker.message.text()
    assert picker.keyboard.isVisible()
    tap(qtbot, picker.keyboard.layout_key)
    tap(qtbot, picker.keyboard.shift_key)
    for char in "Wet":
        tap(qtbot, picker.keyboard.key_for(char))
    tap(qtbot, picker.keyboard.space_key)
    tap(qtbot, picker.keyboard.key_for("f"))
    tap(qtbot, picker.keyboard.backspace_key)
    assert picker.note.text() == "Wet "
    tap(qtbot, picker.confirm_button)
    qtbot.waitUntil(lambda: tile_state(window, "3") == "out_of_service", timeout=WAIT_MS)
    assert "기타: Wet" in audit_reasons(kiosk, "out_of_service")

    wait_idle(qtbot, window)

    # Back in service needs no reason.
    tap(qtbot, panel.tiles["3"])
    tap(qtbot, panel.in_service_button)
    qtbot.waitUntil(lambda: tile_state(window, "3") == "available", timeout=WAIT_MS)

    wait_idle(qtbot, window)

    # Cancel leaves everything as it was; then a reset with a preset only.
    tap(qtbot, panel.tiles["4"])
    tap(qtbot, panel.reset_button)
    tap(qtbot, picker.cancel_button)
    assert not panel.picking_reason
    assert audit_reasons(kiosk, "reset") == []
    tap(qtbot, panel.reset_button)
    tap(qtbot, picker.preset_buttons[2])  # 빈 보관함 확인
    tap(qtbot, picker.confirm_button)
    qtbot.waitUntil(
        lambda: audit_reasons(kiosk, "reset") == ["빈 보관함 확인 (no active rental)"],
        timeout=WAIT_MS,
    )

    wait_idle(qtbot, window)

    # The audit log, filtered from drop-down lists (a tap on a list item selects it).
    panel.tabs.setCurrentIndex(2)
    assert panel.locker_filter.count() == 5  # all + 4 lockers
    panel.locker_filter.setCurrentIndex(panel.locker_filter.findText("2"))
    tap(qtbot, panel.apply_filter)
    qtbot.waitUntil(
        lambda: (
            panel.audit.rowCount() > 0
            and {panel.audit.item(r, 4).text() for r in range(panel.audit.rowCount())} == {"2"}
        ),
        timeout=WAIT_MS,
    )

    # Nothing anywhere takes typed input.
    fields = window.findChildren(QLineEdit)
    assert fields and all(f.isReadOnly() for f in fields), [f for f in fields if not f.isReadOnly()]

    tap(qtbot, panel.logout_button)
    assert window.current_screen is window.home

    # Back in: the tile way, in English this time.
    window.controller.set_language("en")
    enter_staff(qtbot, window)
    assert login.prompt.text() == "Tap your name, or enter your staff number"
    tap(qtbot, login.tiles["staff"])
    assert login.prompt.text() == "PIN for staff"
    tap_digits(qtbot, window, "1234")
    qtbot.waitUntil(lambda: window.current_screen is window.staff_panel, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: len(panel.tiles) == 4, timeout=WAIT_MS)
    tap(qtbot, panel.tiles["1"])
    tap(qtbot, panel.open_button)
    assert picker.preset_buttons[0].text() == "customer not recognised"
    assert picker.keyboard.layout_name == "en"
    tap(qtbot, picker.preset_buttons[0])
    tap(qtbot, picker.confirm_button)
    # Recorded in the kiosk's language (ui.language: ko), whatever the screen shows.
    qtbot.waitUntil(
        lambda: "고객이 얼굴 인식에 실패함" in audit_reasons(kiosk, "force_open"),
        timeout=WAIT_MS,
    )
    wait_idle(qtbot, window)
    tap(qtbot, panel.logout_button)
