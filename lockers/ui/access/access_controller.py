"""The glue of accessibility mode: keys become actions, screens and hints are spoken, the look
and the layout follow the toggles, timeouts warn first, and "call staff" reaches the services.

Plain UI-thread code over the window and its controller; it owns no kiosk logic. The mode turns
on with its button or key (or any keypad key: whoever uses the keypad needs it), and ends when
the kiosk goes home after a customer, unless ``accessibility.on_at_start``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QTimer, Slot
from PySide6.QtWidgets import QWidget

from lockers.config.accessibility import AccessibilityConfig
from lockers.kiosk.flow import FlowView, Phase
from lockers.ui.access import reach
from lockers.ui.access.focus import FocusRing, activate, screen_controls
from lockers.ui.access.keymap import KeyAction, KeyCommand, command_for
from lockers.ui.access.look import EXPLICIT_KEYS, AccessState, stylesheet
from lockers.ui.access.speech import control_utterances, screen_utterances, utterances_for
from lockers.ui.job_dispatch import JobResult
from lockers.ui.qt_compat import emit
from lockers.ui.voice_port import Utterance, Voice

if TYPE_CHECKING:
    from lockers.ui.main_window import MainWindow


class AccessController(QObject):
    """Args:
    window: the kiosk window (its screens, access bar and controller).
    config: the ``accessibility:`` section.
    voice: speaks for the screens (a silent one when there is no audio).
    clock: monotonic seconds (the controller's).
    """

    def __init__(
        self,
        window: MainWindow,
        config: AccessibilityConfig,
        voice: Voice,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(window)
        self.window = window
        self.controller = window.controller
        self.config = config
        self.voice = voice
        self._clock = clock
        self.state = AccessState()
        self.ring = FocusRing()
        self._screen_key: object = None
        self._own = 0  # how many controls of its own the screen had at the last refresh
        self._hint = ""
        self._warned = False
        self._last_phase = Phase.HOME
        self._keys_used = False  # a key was pressed for this customer: the focus is shown
        self._connect()
        self._timer = QTimer(self)
        self._timer.setInterval(200)
        self._timer.timeout.connect(self._tick)
        self._timer.start()
        self._reset_for_next_customer()
        self._apply_look()

    def _connect(self) -> None:
        c, bar = self.controller, self.window.access_bar
        c.view_changed.connect(self._on_view)
        c.staff_changed.connect(lambda _state: self.refresh())
        c.status_changed.connect(lambda _status: self.refresh())
        c.language_changed.connect(lambda _lang: self.refresh(announce=True))
        c.runner.finished.connect(self._on_job)
        self.window.stack.currentChanged.connect(lambda _index: self.refresh())
        bar.mode_pressed.connect(lambda: self.set_mode(not self.state.on))
        bar.contrast_pressed.connect(self.toggle_contrast)
        bar.large_text_pressed.connect(self.toggle_large_text)
        bar.low_reach_pressed.connect(self.toggle_low_reach)
        bar.call_staff_pressed.connect(self.call_staff)
        bar.more_time_pressed.connect(self.more_time)

    # -- the mode and its toggles ------------------------------------------------------------

    @property
    def speaking(self) -> bool:
        return self.state.on and self.config.voice

    def set_mode(self, on: bool) -> None:
        """Voice, keys, large text, high contrast and longer timeouts, or none of them."""
        if on == self.state.on:
            return
        self.state = AccessState(on=on, contrast=on, large_text=on, low_reach=self.state.low_reach)
        c = self.controller
        factor = self.config.time_factor if on else 1.0
        c.flow.set_pace(factor, self.config.warn_before_s if on else None)
        c.staff_room.set_pace(factor)
        self._apply_look()
        emit(c.log_line, f"accessibility mode {'on' if on else 'off'}")
        if on:
            self._screen_key = None
            self.refresh(announce=True, first=[Utterance("a11y.on"), Utterance("a11y.keys_help")])
        else:
            if self.config.voice:
                self.voice.say([Utterance("a11y.off")], c.language)
            self._warned = False

    def start_on(self) -> None:
        """Every customer in accessibility mode (``on_at_start``), from now."""
        self.config = self.config.model_copy(update={"on_at_start": True})
        self._reset_for_next_customer()

    def toggle_contrast(self) -> None:
        self._toggle("contrast")

    def toggle_large_text(self) -> None:
        self._toggle("large_text")

    def toggle_low_reach(self) -> None:
        self._toggle("low_reach")

    def _toggle(self, name: str) -> None:
        on = not getattr(self.state, name)
        self.state = replace(self.state, **{name: on})
        self._apply_look()
        self.say([Utterance(f"a11y.{name}.{'on' if on else 'off'}")])
        self.refresh()

    def _apply_look(self) -> None:
        state, window = self.state, self.window
        scale = self.config.text_scale if state.large_text else 1.0
        style = stylesheet(high_contrast=state.contrast, text_scale=scale)
        window.setStyleSheet(style + (reach.COMPACT_STYLE if state.low_reach else ""))
        window.staff_panel.set_look(
            high_contrast=state.contrast,
            text_scale=scale,
            tile_min_px=reach.TILE_PX if state.low_reach else 100,
        )
        window.set_low_reach(state.low_reach, self.config.reach_band_px)
        self._show_bar()

    def _show_bar(self) -> None:
        s = self.state
        self.window.access_bar.show_state(
            mode=s.on,
            contrast=s.contrast,
            large_text=s.large_text,
            low_reach=s.low_reach,
            warning=self._warned,
        )

    def staff_left(self) -> None:
        """Staff screens closed: the next customer starts afresh, as after a customer."""
        self._reset_for_next_customer()
        self.refresh(announce=True)

    def _reset_for_next_customer(self) -> None:
        """The next customer starts with the site's default (``on_at_start``); an earlier
        customer's "help is on its way" is not theirs."""
        self.window.access_bar.clear_notice()
        self._keys_used = False
        start = self.config.on_at_start
        if self.state.on != start:
            self.set_mode(start)
        if self.state != AccessState(start, start, start, False):
            self.state = AccessState(start, start, start, False)
            self._apply_look()

    # -- speaking ----------------------------------------------------------------------------

    def say(self, utterances: Sequence[Utterance]) -> None:
        if self.speaking and utterances:
            self.voice.say(list(utterances), self.controller.language)

    def screen_name(self) -> str:
        """The screen in the audit log's words: the flow's phase or the staff screen."""
        window = self.window
        if window.current_screen is window.staff_login:
            return "staff_login"
        if window.current_screen is window.staff_panel:
            return "staff_panel"
        return self.controller.flow.phase.value

    def _controls(self) -> list[QWidget]:
        screen = self.window.current_screen
        own = screen_controls(screen) if screen is not None else []
        return own + self._bar()

    def _bar(self) -> list[QWidget]:
        return [w for w in self.window.bar_controls() if w.isVisibleTo(self.window)]

    def _key_of_screen(self) -> object:
        w = self.window
        view = self.controller.flow.view
        screen = w.current_screen
        if screen is w.staff_panel:
            return (screen, w.staff_panel.tabs.currentIndex(), w.staff_panel.picking_reason)
        if screen is w.staff_login:
            return (screen, w.staff_login.selected)
        return (screen, view.phase, view.problem, view.locker_label, view.retrieving)

    @Slot()
    def refresh(self, announce: bool = False, first: Sequence[Utterance] = ()) -> None:
        """Draw the focus and, on a new screen, speak it: its words, then its controls."""
        controls = self._controls()
        key = self._key_of_screen()
        own = len(controls) - len(self._bar())
        # A screen whose buttons were all disabled (starting up) is new once they come.
        new = announce or key != self._screen_key or (own > 0 and self._own == 0)
        self._screen_key, self._own = key, own
        if self.state.low_reach:
            self.window.refresh_upper()
        self.ring.reset(controls, keep=not new, show=self._focus_shown)
        screen = self.window.current_screen
        if not new or screen is None or not self.state.on:
            return
        extra = self._extra_words()
        # The screen's own controls; the access bar's are said when the mode starts and when
        # the focus reaches them (on every screen they would drown the instruction).
        spoken = controls if first else controls[: len(controls) - len(self._bar())]
        said = screen_utterances(screen, spoken, self.controller.language, extra)
        self._hint = self._camera_hint()
        self.say([*first, *said])

    @property
    def _focus_shown(self) -> bool:
        return self.state.on or self._keys_used

    def _extra_words(self) -> list[Utterance]:
        """What a seated user and a PIN user must also hear."""
        w = self.window
        extra: list[Utterance] = []
        if w.current_screen is w.camera and self.state.low_reach:
            extra.append(Utterance("a11y.seated"))
        if w.current_screen is w.staff_login:
            extra.append(Utterance("a11y.pin_help"))
        label = self.controller.flow.view.locker_label
        if w.current_screen is w.message and label and self.controller.flow.phase in _DOORS:
            extra.append(Utterance("a11y.locker_next", {"label": label}))
        return extra

    def _camera_hint(self) -> str:
        camera = self.window.camera
        return f"{camera.prompt.text()}\n{camera.guidance.text()}"

    @Slot(object)
    def _on_view(self, view: FlowView) -> None:
        if view.phase is Phase.HOME and self._last_phase is not Phase.HOME:
            self._last_phase = view.phase
            self._reset_for_next_customer()  # the customer left: the mode ends
        self._last_phase = view.phase
        key = self._key_of_screen()
        if key != self._screen_key:
            self.refresh()
            return
        if not self._focus_shown:  # no keys, no voice: no widget walk on each capture view
            return
        if self.window.current_screen is self.window.camera:
            hint = self._camera_hint()
            if hint != self._hint:  # a new quality hint or head move: said once, not per frame
                self._hint = hint
                self.say(utterances_for(self.window.camera.guidance.text(), self._lang))
        self.ring.reset(self._controls(), keep=True, show=self._focus_shown)

    @property
    def _lang(self) -> str:
        return self.controller.language

    # -- time --------------------------------------------------------------------------------

    @Slot()
    def _tick(self) -> None:
        if not self.state.on:
            return
        now = self._clock()
        staff = self.window.staff_mode
        if staff:
            near = self.controller.staff_room.warn_if_near(now, self.config.warn_before_s)
        else:
            near = self.controller.flow.view.time_warning
        if near and not self._warned:
            self._warned = True
            self._show_bar()
            self.say([Utterance("time.warning")])
            self.ring.reset(self._controls(), keep=True)
        elif not near and self._warned:
            self._warned = False
            self._show_bar()
        if self.state.low_reach:
            self.window.refresh_upper()

    def more_time(self) -> None:
        """The "more time" key or button: this screen's timeout starts again."""
        c = self.controller
        c.flow.more_time(self._clock())
        c.staff_room.touch()
        c.touch()
        self._warned = False
        self._show_bar()
        self.say([Utterance("time.more")])
        self.ring.reset(self._controls(), keep=True)

    # -- call staff --------------------------------------------------------------------------

    def call_staff(self) -> None:
        """Audited through the services (off the UI thread); the answer is spoken."""
        c, w = self.controller, self.window
        screen, lang, backend = self.screen_name(), c.language, c.backend
        # The locker on screen (an open or jammed door) tells staff where to go.
        customer = w.current_screen in (w.message, w.camera)
        locker = c.flow.view.locker_label if customer else None
        c.runner.submit("assistance", lambda: backend.request_assistance(screen, lang, locker))
        emit(c.log_line, f"call staff pressed on {screen}")

    @Slot(object)
    def _on_job(self, result: JobResult) -> None:
        if result.kind != "assistance":
            return
        key = "assist.coming" if result.ok else "assist.failed"
        self.window.access_bar.show_notice(key)
        emit(self.controller.log_line, f"call staff: {'recorded' if result.ok else result.error}")
        if self.config.voice:
            # Said even outside the mode: whoever called must hear whether help is coming.
            self.voice.say([Utterance(key)], self._lang)

    # -- keys --------------------------------------------------------------------------------

    def handle_key(self, key: int) -> bool:
        """A key press anywhere in the window; True when it was the kiosk's."""
        w = self.window
        command = command_for(key, pin_pad=w.current_screen is w.staff_login)
        if command is None:
            return False
        self.controller.touch()
        self._keys_used = True
        if not self.state.on and command.action not in EXPLICIT_KEYS and not w.staff_mode:
            self.set_mode(True)  # whoever reaches for the keypad needs the mode (not staff)
        self._do(command)
        return True

    def _do(self, command: KeyCommand) -> None:
        action = command.action
        simple: dict[KeyAction, Callable[[], object]] = {
            KeyAction.NEXT: lambda: self._move(1),
            KeyAction.PREVIOUS: lambda: self._move(-1),
            KeyAction.ACTIVATE: self._activate,
            KeyAction.BACK: self._back,
            KeyAction.DIGIT: lambda: self._digit(command.digit),
            KeyAction.REPEAT: self.voice.repeat,
            KeyAction.VOLUME_UP: lambda: self.voice.change_volume(1),
            KeyAction.VOLUME_DOWN: lambda: self.voice.change_volume(-1),
            KeyAction.CALL_STAFF: self.call_staff,
            KeyAction.MORE_TIME: self.more_time,
            KeyAction.ACCESSIBILITY: lambda: self.set_mode(not self.state.on),
            KeyAction.CONTRAST: self.toggle_contrast,
            KeyAction.LARGE_TEXT: self.toggle_large_text,
            KeyAction.LOW_REACH: self.toggle_low_reach,
            KeyAction.LANGUAGE: self.controller.toggle_language,
            KeyAction.STAFF: self.window.enter_staff,
        }
        simple[action]()

    def _move(self, steps: int) -> None:
        self.ring.reset(self._controls(), keep=True)
        focused = self.ring.move(steps)
        if focused is not None:
            self.say(control_utterances(focused, self._lang))

    def _activate(self) -> None:
        login = self.window.staff_login
        if self.window.current_screen is login and login.pad.pin:
            login.pad.submit()  # digits typed: OK submits them, wherever the focus is
            return
        focused = self.ring.current
        if focused is None or not focused.isVisibleTo(self.window) or not focused.isEnabled():
            return
        activate(focused)
        self.refresh()
        if self.ring.current is focused and self._screen_key == self._key_of_screen():
            self.say(control_utterances(focused, self._lang))  # a list's or tab's new choice

    def _back(self) -> None:
        w = self.window
        if w.current_screen is w.staff_login and w.staff_login.pad.pin:
            w.staff_login.pad.clear()
            return
        target = w.back_control()
        if target is not None:
            activate(target)
            self.refresh()

    def _digit(self, digit: str) -> None:
        self.window.staff_login.pad.press(digit)
        self.say([Utterance("a11y.pin_digit")])  # never the digit itself: a PIN is secret


_DOORS = frozenset({Phase.REGISTER_OPEN, Phase.RETRIEVE_OPEN})
