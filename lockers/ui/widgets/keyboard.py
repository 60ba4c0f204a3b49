"""An on-screen keyboard for staff notes: English QWERTY and Korean 2-set (두벌식) with Hangul
composition, digits, shift, space and backspace, in big touch keys.

The PySide6-Essentials wheels ship Qt Virtual Keyboard's input-context plugin but not the
libraries it needs (``libQt6VirtualKeyboard.so.6`` comes with PySide6-Addons, and its keyboard
is a QML overlay that widgets only get through an input method), so the kiosk has its own.
It edits a read-only :class:`QLineEdit`: no physical keyboard can type into the field.
"""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QGridLayout, QHBoxLayout, QLineEdit, QPushButton, QVBoxLayout, QWidget

from lockers.ui.qt_compat import emit
from lockers.ui.widgets.common import button, on_click
from lockers.ui.widgets.hangul import HangulComposer

MAX_NOTE = 200  # the audit log's reason column holds the preset too
ROWS = {
    "en": ("1234567890", "qwertyuiop", "asdfghjkl", "zxcvbnm"),
    "ko": ("1234567890", "ㅂㅈㄷㄱㅅㅛㅕㅑㅐㅔ", "ㅁㄴㅇㄹㅎㅗㅓㅏㅣ", "ㅋㅌㅊㅍㅠㅜㅡ"),
}
SHIFTED = {
    "en": {c: c.upper() for c in "qwertyuiopasdfghjklzxcvbnm"},
    "ko": dict(zip("ㅂㅈㄷㄱㅅㅐㅔ", "ㅃㅉㄸㄲㅆㅒㅖ", strict=True)),
}
PUNCTUATION = ".,-/()"


class OnScreenKeyboard(QWidget):
    """Keys that edit :attr:`field`; ``done`` when the staff member taps the ✓ key."""

    text_changed = Signal(str)
    done = Signal()

    def __init__(self, field: QLineEdit | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.field = field or QLineEdit()
        self.field.setReadOnly(True)  # typed only through these keys
        self.layout_name = "ko"
        self.shift = False
        self._composer = HangulComposer()
        self.keys: dict[str, QPushButton] = {}
        self.setStyleSheet(
            # 5 rows of 60 px keys (over the 9 mm a fingertip needs) fit an 800 px screen.
            "QPushButton { min-height: 52px; min-width: 52px; padding: 2px; font-size: 30px; }"
        )
        outer = QVBoxLayout(self)
        outer.setSpacing(6)
        self._grid = QGridLayout()
        self._grid.setSpacing(6)
        outer.addLayout(self._grid)
        for row, keys in enumerate(ROWS["en"]):
            for col in range(len(keys)):
                key = button("")
                key.clicked.connect(lambda *_, r=row, c=col: self._press_at(r, c))
                self._grid.addWidget(key, row, col)
                self.keys[f"{row}:{col}"] = key
        bottom = QHBoxLayout()
        self.shift_key = button("⇧")
        on_click(self.shift_key, self.toggle_shift)
        self.layout_key = button("")
        on_click(self.layout_key, self.toggle_layout)
        self.punctuation_keys = []
        for mark in PUNCTUATION:
            key = button(mark)
            key.clicked.connect(lambda *_, m=mark: self.type_text(m))
            self.punctuation_keys.append(key)
        self.space_key = button("␣")
        on_click(self.space_key, lambda: self.type_text(" "))
        self.backspace_key = button("⌫")
        on_click(self.backspace_key, self.backspace)
        self.done_key = button("✓", "primaryKey")
        on_click(self.done_key, lambda: emit(self.done))
        bottom.addWidget(self.shift_key)
        bottom.addWidget(self.layout_key)
        for key in self.punctuation_keys:
            bottom.addWidget(key)
        bottom.addWidget(self.space_key, 3)
        bottom.addWidget(self.backspace_key)
        bottom.addWidget(self.done_key)
        outer.addLayout(bottom)
        self._draw()

    # -- what the keys do ------------------------------------------------------------------

    @property
    def text(self) -> str:
        return self._composer.text

    def set_layout(self, name: str) -> None:
        self._composer.commit()
        self.layout_name = name if name in ROWS else "en"
        self.shift = False
        self._draw()

    def toggle_layout(self) -> None:
        self.set_layout("en" if self.layout_name == "ko" else "ko")

    def toggle_shift(self) -> None:
        self.shift = not self.shift
        self._draw()

    def key_for(self, char: str) -> QPushButton:
        """The key that types ``char`` in the current layout (tests tap through this)."""
        for key in self.keys.values():
            if key.text() == char:
                return key
        raise KeyError(f"no key {char!r} in the {self.layout_name} layout (shift {self.shift})")

    def _press_at(self, row: int, col: int) -> None:
        char = self.keys[f"{row}:{col}"].text()
        if not char:
            return
        if self.layout_name == "ko":
            self._edit(lambda: self._composer.press(char))
        else:
            self._edit(lambda: self._composer.insert(char))
        if self.shift:
            self.shift = False
            self._draw()

    def type_text(self, text: str) -> None:
        self._edit(lambda: self._composer.insert(text))

    def backspace(self) -> None:
        self._edit(self._composer.backspace)

    def clear(self) -> None:
        self._composer = HangulComposer()
        self._show()

    def _edit(self, change: object) -> None:
        before = self._composer.text
        change()  # type: ignore[operator]
        if len(self._composer.text) > MAX_NOTE:
            self._composer = HangulComposer(before)
        self._show()

    def _show(self) -> None:
        self.field.setText(self._composer.text)
        emit(self.text_changed, self._composer.text)

    def _draw(self) -> None:
        shifted = SHIFTED[self.layout_name] if self.shift else {}
        for row, keys in enumerate(ROWS["en"]):
            chars = ROWS[self.layout_name][row]
            for col in range(len(keys)):
                key = self.keys[f"{row}:{col}"]
                char = chars[col] if col < len(chars) else ""
                key.setText(shifted.get(char, char))
                key.setVisible(bool(char))
        self.layout_key.setText("English" if self.layout_name == "ko" else "한글")
        self.shift_key.setProperty("on", self.shift)
        self.shift_key.setStyleSheet("background: #1565c0;" if self.shift else "")
