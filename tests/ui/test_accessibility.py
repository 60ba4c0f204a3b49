"""Accessibility mode in the real window: every customer and staff screen visited by keys
alone, low reach on; every control reachable by the focus keys, spoken when focused, inside
the reach band; call staff audited and shown to staff; the mode ends with the customer."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from kiosk_harness import ScriptedCamera
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QWidget

from lockers.app import KioskParts
from lockers.kiosk.flow import FlowView, Phase
from lockers.store import audit
from lockers.store.audit_values import AuditAction
from lockers.ui.access.keymap import KeyAction, command_for
from lockers.ui.access.reach import inside_band
from lockers.ui.access.speech import control_utterances, utterances_for
from lockers.ui.main_window import MainWindow
from lockers.ui.voice_port import TranscriptVoice, Utterance

WAIT_MS = 8000
BAND = 360  # accessibility.reach_band_px's default


@pytest.fixture
def voice() -> TranscriptVoice:
    return TranscriptVoice(lambda _line: None)


@pytest.fixture
def a11y_window(qtbot: Any, kiosk: KioskParts, voice: TranscriptVoice) -> Iterator[MainWindow]:
    from lockers.ui.launch import create_window

    win, controller = create_window(kiosk, health_interval_s=0.3, staff_hold_ms=200, voice=voice)
    qtbot.addWidget(win)
    win.show()
    yield win
    win.close()
    controller.shutdown()


def key(qtbot: Any, window: MainWindow, which: Qt.Key) -> None:
    qtbot.keyClick(window, which)


def mode_on_when_ready(qtbot: Any, window: MainWindow) -> None:
    """Wait for the kiosk to be ready, then the keypad's accessibility key."""
    qtbot.waitUntil(lambda: window.controller.status.ready, timeout=WAIT_MS)
    key(qtbot, window, Qt.Key.Key_Slash)


def type_pin(qtbot: Any, window: MainWindow) -> None:
    """The demo staff account's PIN on the keypad's digits."""
    for digit in (Qt.Key.Key_1, Qt.Key.Key_2, Qt.Key.Key_3, Qt.Key.Key_4):
        key(qtbot, window, digit)


def said(voice: TranscriptVoice, utterances: list[Utterance], lang: str) -> bool:
    keys = [k for k, language in voice.spoken if language == lang]
    return all(u.key in keys for u in utterances)


def visit(qtbot: Any, window: MainWindow, voice: TranscriptVoice) -> list[QWidget]:
    """Tab through the whole focus order once: every control is reached, spoken and, in low
    reach, inside the band."""
    access = window.access
    expected = access._controls()
    assert expected, f"no controls on {window.current_screen}"
    reached: list[QWidget] = []
    for _ in expected:
        before = len(voice.spoken)
        key(qtbot, window, Qt.Key.Key_Tab)
        focused = access.ring.current
        assert focused is not None
        reached.append(focused)
        spoken = voice.spoken[before:]
        wanted = [u.key for u in control_utterances(focused, window.controller.language)]
        assert [k for k, _ in spoken] == wanted, (focused, spoken)
        if access.state.low_reach:
            assert inside_band(focused, window, BAND), (
                focused,
                focused.mapTo(window, focused.rect().topLeft()),
                focused.height(),
                window.height(),
                window.band.geometry(),
                window.upper.isVisible(),
                window.upper.geometry(),
                window.centralWidget().geometry(),
            )
    assert set(map(id, reached)) == set(map(id, expected))
    return reached


def wait_phase(qtbot: Any, window: MainWindow, phase: Phase) -> None:
    qtbot.waitUntil(lambda: window.controller.flow.phase is phase, timeout=WAIT_MS)


def test_every_screen_by_keys_alone_in_low_reach(
    qtbot: Any, a11y_window: MainWindow, camera: ScriptedCamera, voice: TranscriptVoice
) -> None:
    window = a11y_window
    c = window.controller
    qtbot.waitUntil(lambda: c.status.ready and c.status.health is not None, timeout=WAIT_MS)
    key(qtbot, window, Qt.Key.Key_Slash)  # the keypad's accessibility key
    assert window.access.state.on and window.access.state.contrast
    assert ("a11y.on", "ko") in voice.spoken
    key(qtbot, window, Qt.Key.Key_F7)
    assert window.access.state.low_reach
    qtbot.waitUntil(lambda: window.band.height() == BAND, timeout=WAIT_MS)
    assert said(voice, utterances_for(window.home.title.text(), "ko"), "ko")
    visit(qtbot, window, voice)
    # Register: the first control of home is Register; Enter presses it.
    window.access.ring.reset(window.access._controls())
    camera.show(None)  # nobody yet: the capture screen waits
    key(qtbot, window, Qt.Key.Key_Return)
    assert c.flow.phase is Phase.CONSENT
    assert said(voice, [Utterance("consent.title"), Utterance("consent.accept")], "ko")
    visit(qtbot, window, voice)
    window.access.ring.reset(window.access._controls())  # Agree comes first
    key(qtbot, window, Qt.Key.Key_Return)
    assert c.flow.phase is Phase.CAPTURE
    assert ("a11y.seated", "ko") in voice.spoken
    visit(qtbot, window, voice)
    camera.show("person01_1")
    qtbot.waitUntil(lambda: ("guide.hold_still", "ko") in voice.spoken, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: c.flow.phase in (Phase.REGISTER_OPEN, Phase.DONE), timeout=WAIT_MS)
    if c.flow.phase is Phase.REGISTER_OPEN:
        assert ("a11y.locker_next", "ko") in voice.spoken
        visit(qtbot, window, voice)
    wait_phase(qtbot, window, Phase.DONE)
    visit(qtbot, window, voice)
    key(qtbot, window, Qt.Key.Key_Escape)
    wait_phase(qtbot, window, Phase.HOME)
    # The customer left: the mode ended. The next one turns it on with any keypad key.
    assert not window.access.state.on and not window.access.state.low_reach
    key(qtbot, window, Qt.Key.Key_F7)
    key(qtbot, window, Qt.Key.Key_Down)  # any key: the mode, and the focus to Retrieve
    assert window.access.state.on
    assert window.access.ring.current is window.home.retrieve_button
    key(qtbot, window, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: c.flow.phase is Phase.RETRIEVE_OPEN, timeout=WAIT_MS)
    visit(qtbot, window, voice)
    key(qtbot, window, Qt.Key.Key_Escape)  # Done
    wait_phase(qtbot, window, Phase.DONE)
    key(qtbot, window, Qt.Key.Key_Escape)
    wait_phase(qtbot, window, Phase.HOME)
    # Staff: the PIN screen by its key, the name by focus, the PIN on the digits.
    key(qtbot, window, Qt.Key.Key_Slash)
    key(qtbot, window, Qt.Key.Key_F7)
    key(qtbot, window, Qt.Key.Key_F12)
    assert window.current_screen is window.staff_login
    qtbot.waitUntil(lambda: bool(window.staff_login.tiles), timeout=WAIT_MS)
    window.access.refresh(announce=True)
    assert ("a11y.pin_help", "ko") in voice.spoken
    visit(qtbot, window, voice)
    window.access.ring.reset(window.access._controls())
    key(qtbot, window, Qt.Key.Key_Return)  # the first name tile: the demo's staff account
    assert window.staff_login.selected == "staff"
    before = len(voice.spoken)
    type_pin(qtbot, window)
    assert [k for k, _ in voice.spoken[before:]] == ["a11y.pin_digit"] * 4  # never the digits
    key(qtbot, window, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: window.current_screen is window.staff_panel, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: bool(window.staff_panel.tiles), timeout=WAIT_MS)
    window.access.refresh()
    for _tab in range(3):  # the lockers, overdue and audit tabs
        reached = visit(qtbot, window, voice)
        bar = window.staff_panel.tabs.tabBar()
        assert bar in reached
        window.access.ring.current = bar
        window.access.ring.reset(window.access._controls(), keep=True)
        key(qtbot, window, Qt.Key.Key_Return)  # the next tab


def test_call_staff_is_audited_spoken_and_shown_on_the_staff_panel(
    qtbot: Any, a11y_window: MainWindow, kiosk: KioskParts, voice: TranscriptVoice
) -> None:
    window = a11y_window
    mode_on_when_ready(qtbot, window)
    key(qtbot, window, Qt.Key.Key_0)  # the keypad's 0: call staff
    qtbot.waitUntil(lambda: ("assist.coming", "ko") in voice.spoken, timeout=WAIT_MS)
    assert window.access_bar.notice.isVisibleTo(window)
    with kiosk.backend.store.database.transaction() as session:
        rows = audit.recent(session, action=AuditAction.ASSISTANCE_REQUESTED.value)
        assert [(r.outcome, r.locker_label, r.rental_id) for r in rows] == [
            ("requested", None, None)
        ]
        assert "screen=home" in (rows[0].reason or "")
    health = kiosk.backend.health()
    assert any("assistance requested" in alert for alert in health.alerts)


def test_a_near_timeout_is_spoken_and_more_time_restarts_it(
    qtbot: Any, a11y_window: MainWindow, voice: TranscriptVoice
) -> None:
    window = a11y_window
    c = window.controller
    mode_on_when_ready(qtbot, window)
    assert c.flow.settings.idle_timeout_s == 30.0 * 3  # x time_factor
    key(qtbot, window, Qt.Key.Key_Return)  # Register
    assert c.flow.phase is Phase.CONSENT
    c.flow._activity -= c.flow.settings.idle_timeout_s - 5.0  # 5 s of the idle time left
    qtbot.waitUntil(lambda: ("time.warning", "ko") in voice.spoken, timeout=WAIT_MS)
    assert window.access_bar.more_time.isVisibleTo(window)
    key(qtbot, window, Qt.Key.Key_Period)  # more time
    assert ("time.more", "ko") in voice.spoken
    assert not window.access_bar.more_time.isVisibleTo(window)
    assert c.flow.phase is Phase.CONSENT
    left = c.flow.time_left_s(c._now())
    assert left is not None and left > 80.0


@pytest.mark.parametrize(
    ("qt_key", "pin_pad", "action"),
    [
        (Qt.Key.Key_Tab, False, KeyAction.NEXT),
        (Qt.Key.Key_Backtab, False, KeyAction.PREVIOUS),
        (Qt.Key.Key_Up, False, KeyAction.PREVIOUS),
        (Qt.Key.Key_Enter, False, KeyAction.ACTIVATE),
        (Qt.Key.Key_5, False, KeyAction.ACTIVATE),
        (Qt.Key.Key_8, False, KeyAction.PREVIOUS),
        (Qt.Key.Key_0, False, KeyAction.CALL_STAFF),
        (Qt.Key.Key_0, True, KeyAction.DIGIT),
        (Qt.Key.Key_Escape, False, KeyAction.BACK),
        (Qt.Key.Key_Asterisk, False, KeyAction.REPEAT),
        (Qt.Key.Key_Plus, False, KeyAction.VOLUME_UP),
        (Qt.Key.Key_Minus, False, KeyAction.VOLUME_DOWN),
        (Qt.Key.Key_Period, False, KeyAction.MORE_TIME),
        (Qt.Key.Key_Slash, False, KeyAction.ACCESSIBILITY),
        (Qt.Key.Key_F7, False, KeyAction.LOW_REACH),
    ],
)
def test_keypad_keys(qt_key: Qt.Key, pin_pad: bool, action: KeyAction) -> None:
    command = command_for(int(qt_key.value), pin_pad=pin_pad)
    assert command is not None and command.action is action


def test_shown_texts_map_back_to_their_ids_and_values() -> None:
    found = utterances_for("3 of 12 lockers free\nunknown words", "en")
    assert found[0] == Utterance("home.free", {"free": "3", "total": "12"})
    assert found[1] == Utterance("a11y.item", {"text": "unknown words"})


def test_every_head_move_is_spoken_with_its_direction_and_hold_once(
    qtbot: Any, a11y_window: MainWindow, voice: TranscriptVoice
) -> None:
    from lockers.ui.qt_compat import emit
    from lockers.vision.liveness import LivenessState, LivenessStatus, Turn

    window = a11y_window
    c = window.controller
    qtbot.waitUntil(lambda: c.status.ready, timeout=WAIT_MS)
    c.set_language("en")
    key(qtbot, window, Qt.Key.Key_Slash)
    c.flow._view = FlowView(phase=Phase.LIVENESS)  # the screen, not the camera
    for turn, hold in ((Turn.LEFT, 1.5), (Turn.LEFT, 1.5), (Turn.RIGHT, 2.0)):
        state = LivenessState(LivenessStatus.TURNING, turn, 0, 2, hold_s=hold)
        view = FlowView(phase=Phase.LIVENESS, liveness=state)
        c.flow._view = view
        emit(c.view_changed, view)
    keys = [k for k, lang in voice.spoken if lang == "en"]
    assert keys.count("live.turn_left") == 1  # the same move twice: said once
    assert keys.count("live.turn_right") == 1
    assert keys.count("live.hold") == 2


def test_staff_idle_logout_is_warned_and_more_time_keeps_the_session(
    qtbot: Any, a11y_window: MainWindow, voice: TranscriptVoice
) -> None:
    window = a11y_window
    c = window.controller
    mode_on_when_ready(qtbot, window)
    key(qtbot, window, Qt.Key.Key_F12)
    qtbot.waitUntil(lambda: bool(window.staff_login.tiles), timeout=WAIT_MS)
    window.staff_login.choose("staff")
    type_pin(qtbot, window)
    key(qtbot, window, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: window.current_screen is window.staff_panel, timeout=WAIT_MS)
    room = c.staff_room
    left = room.time_left_s(c._now())
    assert left is not None and left > 90.0 * 3 - 5  # staff_idle_s x time_factor
    room.touched_at -= left - 3.0  # 3 s left, nobody warned yet
    qtbot.waitUntil(lambda: ("time.warning", "ko") in voice.spoken, timeout=WAIT_MS)
    assert c.staff.session is not None  # warned first: the logout waits warn_before_s
    key(qtbot, window, Qt.Key.Key_Period)
    assert c.staff.session is not None
    left = room.time_left_s(c._now())
    assert left is not None and left > 200.0
