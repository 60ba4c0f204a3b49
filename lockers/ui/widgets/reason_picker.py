"""Why staff open, reset or take a locker out of service: preset reasons as big tiles, and an
optional note typed on the on-screen keyboard. Touch only."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import QEvent, QObject, Signal
from PySide6.QtWidgets import QGridLayout, QHBoxLayout, QLineEdit, QPushButton, QVBoxLayout, QWidget

from lockers.config.ui import PresetReason
from lockers.i18n import tr
from lockers.ui.qt_compat import emit, forward
from lockers.ui.widgets.common import button, label, on_click
from lockers.ui.widgets.keyboard import OnScreenKeyboard

# A preset whose English text is one of these needs a note (it says nothing by itself).
NEEDS_NOTE = frozenset({"other"})


def reason_text(preset: PresetReason, note: str, language: str) -> str:
    """What the audit log records: the preset in ``language``, then the note."""
    text = preset.ko if language == "ko" else preset.en
    note = note.strip()
    return f"{text}: {note}" if note else text


class ReasonPicker(QWidget):
    confirmed = Signal(str, str, str)  # action, locker label, reason
    cancelled = Signal()

    def __init__(self, audit_language: str = "ko", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._lang = "ko"
        self._audit_language = audit_language
        self._action = ""
        self._label = ""
        self._presets: list[PresetReason] = []
        self._chosen: int | None = None
        self.preset_buttons: list[QPushButton] = []
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 4, 8, 4)
        self.title = label("", "title")
        layout.addWidget(self.title)
        self._grid_host = QWidget()
        self._grid = QGridLayout(self._grid_host)
        self._grid.setSpacing(10)
        layout.addWidget(self._grid_host)
        note_row = QHBoxLayout()
        self.note = QLineEdit()
        self.note.setReadOnly(True)
        self.note.setStyleSheet("min-height: 44px; padding: 6px;")
        self.note.installEventFilter(self)  # a tap on the note opens the keyboard
        self.keyboard_button = button("")
        on_click(self.keyboard_button, self.toggle_keyboard)
        note_row.addWidget(self.note, 3)
        note_row.addWidget(self.keyboard_button, 1)
        layout.addLayout(note_row)
        self.keyboard = OnScreenKeyboard(self.note)
        self.keyboard.setVisible(False)
        self.keyboard.done.connect(lambda: self.show_keyboard(False))
        self.keyboard.text_changed.connect(lambda _text: self._draw())
        layout.addWidget(self.keyboard)
        self.message = label("", "error")
        layout.addWidget(self.message)
        buttons = QHBoxLayout()
        self.cancel_button = button("")
        on_click(self.cancel_button, forward(self.cancelled))
        self.confirm_button = button("", "danger")
        on_click(self.confirm_button, self.confirm)
        buttons.addWidget(self.cancel_button)
        buttons.addWidget(self.confirm_button)
        layout.addLayout(buttons)
        layout.addStretch(1)

    def ask(self, action: str, locker_label: str, presets: Sequence[PresetReason]) -> None:
        """Start over for ``action`` on ``locker_label`` (nothing chosen, no note)."""
        self._action, self._label = action, locker_label
        self._chosen = None
        for old in self.preset_buttons:
            self._grid.removeWidget(old)
            old.deleteLater()
        self.preset_buttons = []
        self._presets = []
        self.keyboard.clear()  # redraws: presets and their tiles must match at every draw
        self.keyboard.set_layout(self._lang)
        self.keyboard.setVisible(False)
        self._grid_host.setVisible(True)
        self._presets = list(presets)
        for i in range(len(self._presets)):
            tile = button("")
            tile.setMinimumHeight(72)
            tile.clicked.connect(lambda *_, n=i: self.choose(n))
            self._grid.addWidget(tile, i // 2, i % 2)
            tile.show()
            self.preset_buttons.append(tile)
        self._draw()

    def choose(self, index: int) -> None:
        self._chosen = index
        self._draw()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.note and event.type() is QEvent.Type.MouseButtonPress:
            self.show_keyboard(True)
        return False

    def toggle_keyboard(self) -> None:
        self.show_keyboard(self.keyboard.isHidden())

    def show_keyboard(self, visible: bool) -> None:
        """The keyboard takes the presets' place (the chosen one stays in the title), so the
        picker fits an 800-pixel-high screen."""
        # Hide before showing: the window must never need room for both at once.
        if visible:
            self._grid_host.setVisible(False)
            self.keyboard.setVisible(True)
        else:
            self.keyboard.setVisible(False)
            self._grid_host.setVisible(True)
        self._draw()

    @property
    def needs_note(self) -> bool:
        return self._chosen is not None and self._presets[self._chosen].en in NEEDS_NOTE

    def confirm(self) -> None:
        if self._chosen is None:
            self.message.setText(tr("staff.need_reason", self._lang))
            return
        if self.needs_note and not self.keyboard.text.strip():
            self.show_keyboard(True)
            self.message.setText(tr("staff.need_note", self._lang))
            return
        reason = reason_text(self._presets[self._chosen], self.keyboard.text, self._audit_language)
        emit(self.confirmed, self._action, self._label, reason)

    def set_language(self, lang: str) -> None:
        self._lang = lang
        self.keyboard.set_layout(lang)
        self._draw()

    def _draw(self) -> None:
        lang = self._lang
        action = tr(f"staff.action.{self._action}", lang) if self._action else ""
        if self._chosen is not None and not self.keyboard.isHidden():
            preset = self._presets[self._chosen]
            reason = preset.ko if lang == "ko" else preset.en
            title = tr("staff.why_chosen", lang, action=action, label=self._label, reason=reason)
        else:
            title = tr("staff.why", lang, action=action, label=self._label)
        self.title.setText(title)
        for i, (tile, preset) in enumerate(zip(self.preset_buttons, self._presets, strict=True)):
            tile.setText(preset.ko if lang == "ko" else preset.en)
            chosen = i == self._chosen
            tile.setProperty("chosen", chosen)
            tile.setStyleSheet("background: #1565c0; border: 4px solid #ffffff;" if chosen else "")
        self.note.setPlaceholderText(tr("staff.note", lang))
        self.keyboard_button.setText(tr("staff.keyboard", lang))
        self.cancel_button.setText(tr("common.cancel", lang))
        self.confirm_button.setText(action or tr("common.done", lang))
        self.confirm_button.setEnabled(self._chosen is not None)
        self.message.setText("")
