"""A PIN pad with big keys: digits, clear, OK. The PIN is shown as dots, never as digits."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QGridLayout, QLabel, QVBoxLayout, QWidget

from lockers.ui.qt_compat import emit
from lockers.ui.widgets.common import button, label, on_click

MAX_DIGITS = 12


class PinPad(QWidget):
    submitted = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._pin = ""
        layout = QVBoxLayout(self)
        self.display: QLabel = label("", "title")
        layout.addWidget(self.display)
        grid = QGridLayout()
        layout.addLayout(grid)
        self.keys: dict[str, object] = {}
        for i, digit in enumerate("123456789"):
            key = button(digit, "digit")
            key.clicked.connect(lambda *_, d=digit: self.press(d))
            grid.addWidget(key, i // 3, i % 3)
            self.keys[digit] = key
        self.clear_key = button("⌫", "digit")
        on_click(self.clear_key, self.clear)
        zero = button("0", "digit")
        zero.clicked.connect(lambda *_: self.press("0"))
        self.ok_key = button("OK", "digit")
        on_click(self.ok_key, self.submit)
        grid.addWidget(self.clear_key, 3, 0)
        grid.addWidget(zero, 3, 1)
        grid.addWidget(self.ok_key, 3, 2)
        self.keys["0"] = zero

    @property
    def pin(self) -> str:
        return self._pin

    def press(self, digit: str) -> None:
        if len(self._pin) < MAX_DIGITS:
            self._pin += digit
            self.display.setText("●" * len(self._pin))

    def clear(self) -> None:
        self._pin = ""
        self.display.setText("")

    def submit(self) -> None:
        pin, self._pin = self._pin, ""
        self.display.setText("")
        if pin:
            emit(self.submitted, pin)
