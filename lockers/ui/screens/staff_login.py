"""Staff login: name and PIN pad; shows wrong-PIN and lockout messages from the service."""

from __future__ import annotations

import math

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QHBoxLayout, QLineEdit, QVBoxLayout, QWidget

from lockers.ui.controller import StaffState
from lockers.ui.i18n import tr
from lockers.ui.qt_compat import emit, forward
from lockers.ui.widgets.common import button, label, on_click
from lockers.ui.widgets.pin_pad import PinPad


class StaffLoginScreen(QWidget):
    login = Signal(str, str)  # name, PIN
    back = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._lang = "ko"
        self._state = StaffState()
        layout = QHBoxLayout(self)
        layout.setContentsMargins(48, 24, 48, 24)
        left = QVBoxLayout()
        self.title = label("", "title")
        self.name = QLineEdit()
        self.message = label("", "error")
        self.back_button = button("")
        on_click(self.back_button, forward(self.back))
        left.addWidget(self.title)
        left.addWidget(self.name)
        left.addWidget(self.message, 1)
        left.addWidget(self.back_button)
        layout.addLayout(left, 1)
        self.pad = PinPad()
        self.pad.submitted.connect(self._submit)
        layout.addWidget(self.pad, 1)

    def _submit(self, pin: str) -> None:
        emit(self.login, self.name.text().strip(), pin)

    def reset(self) -> None:
        self.pad.clear()
        self.message.setText("")

    def set_language(self, lang: str) -> None:
        self._lang = lang
        self.title.setText(tr("staff.title", lang))
        self.name.setPlaceholderText(tr("staff.name", lang))
        self.back_button.setText(tr("common.back", lang))
        self.show_state(self._state)

    def show_state(self, state: StaffState) -> None:
        self._state = state
        if state.locked_for_s > 0:
            text = tr("staff.locked", self._lang, s=math.ceil(state.locked_for_s))
        elif state.message == "staff.logged_out":
            text = tr("staff.logged_out", self._lang)
        elif state.message:
            text = tr("staff.wrong", self._lang) if "wrong" in state.message else state.message
        else:
            text = ""
        self.message.setText(text)
        self.pad.setEnabled(not state.busy)
