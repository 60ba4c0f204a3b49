"""``lockers demo --script --accessible``: register → retrieve with key events alone.

Like :class:`~lockers.ui.launch.DemoScript`, but every step is a key press sent to the window
as a keypad would send it (Qt key events through the application), with the mode on (voice,
high contrast, large text) and low reach switched on by its key: the walk a blind or seated
customer makes. The voice prints ``spoken: <id> (<language>)`` for each prompt.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtCore import QEvent, Qt
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import QApplication

from lockers.kiosk.flow import Phase
from lockers.ui.launch import DemoScript

if TYPE_CHECKING:
    from lockers.ui.main_window import MainWindow


def press(window: MainWindow, key: Qt.Key) -> None:
    """One key press and release, delivered as the keypad's would be."""
    target = QApplication.focusWidget() or window
    if target.window() is not window:
        target = window
    for kind in (QEvent.Type.KeyPress, QEvent.Type.KeyRelease):
        QApplication.sendEvent(target, QKeyEvent(kind, key, Qt.KeyboardModifier.NoModifier))


class KeysDemoScript(DemoScript):
    """The scripted walk by keys; ``exit_code`` 0 when the retrieve opened the registered
    locker."""

    def __init__(self, window: MainWindow, say: Callable[[str], None], timeout_s: float) -> None:
        super().__init__(window.controller, say, timeout_s)
        self.window = window

    def _key(self, key: Qt.Key, why: str) -> None:
        self.say(f"script: key {key.name.removeprefix('Key_')} ({why})")
        press(self.window, key)

    def _start_flow(self, retrieve: bool) -> None:
        """From home, low reach on, then the Register or Retrieve button by focus."""
        access = self.window.access
        if not access.state.low_reach:
            self._key(Qt.Key.Key_F7, "low reach")
        if not access.state.contrast:
            self._key(Qt.Key.Key_F5, "high contrast")
        if retrieve:
            self._key(Qt.Key.Key_Down, "next: Retrieve")
        self._key(Qt.Key.Key_Return, "OK")

    def _poll(self) -> None:
        c = self.controller
        view = c.flow.view
        if c.status.model == "failed":
            self._end(f"the face model failed: {c.status.model_detail}", 1)
        elif self.step == "wait_ready" and c.status.ready and c.status.health is not None:
            self._start_flow(retrieve=False)
            self.step = "consent"
        elif self.step == "consent" and view.phase is Phase.CONSENT:
            self._key(Qt.Key.Key_Return, "OK: agree")
            self.step = "registering"
        elif self.step == "registering":
            if view.phase is Phase.REGISTER_OPEN:
                self.registered = view.locker_label
                self.say(f"script: locker {self.registered} opened; waiting for its door to close")
                self.step = "door"
            elif view.phase is Phase.FAILED:
                self._end(f"register failed: {view.problem} {view.detail}", 1)
        elif self.step == "door" and view.phase is Phase.DONE:
            self._key(Qt.Key.Key_Escape, "back to the start")
            self.step = "home"
        elif self.step == "home" and view.phase is Phase.HOME:
            self._start_flow(retrieve=True)
            self.step = "retrieving"
        elif self.step == "retrieving":
            if view.phase is Phase.RETRIEVE_OPEN:
                self.retrieved = view.locker_label
                self.step = "door2"
                if self.retrieved != self.registered:
                    self._end(f"retrieve opened {self.retrieved}, not {self.registered}", 1)
            elif view.phase in (Phase.FAILED, Phase.NOT_RECOGNISED):
                self._end(f"retrieve failed: {view.phase.value} {view.problem or ''}", 1)
        elif self.step == "door2" and view.phase is Phase.DONE:
            self._key(Qt.Key.Key_Escape, "back to the start")
            self._end(
                f"registered and retrieved locker {self.registered} by keys alone; rental "
                "ended, face template deleted",
                0,
            )
