"""Staff login by touch: tap your name (or type your staff number on the pad), then your PIN.
Shows wrong-PIN and lockout messages from the service."""

from __future__ import annotations

import math

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QGridLayout,
    QHBoxLayout,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from lockers.i18n import tr
from lockers.kiosk.dto import StaffEntry
from lockers.ui.controller import StaffState
from lockers.ui.qt_compat import emit, forward
from lockers.ui.widgets.common import button, label, on_click
from lockers.ui.widgets.pin_pad import PinPad

TILE_COLUMNS = 3


class StaffLoginScreen(QWidget):
    login = Signal(str, str)  # name, PIN
    back = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._lang = "ko"
        self._state = StaffState()
        self._directory: tuple[StaffEntry, ...] = ()
        self.selected: str | None = None
        self.tiles: dict[str, QPushButton] = {}
        layout = QHBoxLayout(self)
        layout.setContentsMargins(32, 16, 32, 16)
        left = QVBoxLayout()
        self.title = label("", "title")
        left.addWidget(self.title)
        self._tiles_host = QWidget()
        self._tiles = QGridLayout(self._tiles_host)
        self._tiles.setSpacing(10)
        scroll = QScrollArea()  # a big team scrolls by swiping; names stay tile-sized
        scroll.setWidgetResizable(True)
        scroll.setWidget(self._tiles_host)
        left.addWidget(scroll, 1)
        self.message = label("", "error")
        left.addWidget(self.message)
        self.back_button = button("")
        on_click(self.back_button, forward(self.back))
        left.addWidget(self.back_button)
        layout.addLayout(left, 3)
        right = QVBoxLayout()
        self.prompt = label("", "subtitle")
        right.addWidget(self.prompt)
        self.pad = PinPad()
        self.pad.submitted.connect(self._submit)
        right.addWidget(self.pad, 1)
        layout.addLayout(right, 2)

    def focus_order(self) -> list[QWidget]:
        """The name tiles, then the pad (digits in reading order, then ⌫ 0 OK), then Back."""
        pad = self.pad
        keys = [pad.keys[d] for d in "123456789"] + [pad.clear_key, pad.keys["0"], pad.ok_key]
        return [*self.tiles.values(), *keys, self.back_button]  # type: ignore[list-item]

    # -- input -------------------------------------------------------------------------------

    def choose(self, name: str) -> None:
        """A name tile was tapped: the pad now takes that person's PIN."""
        self.selected = name
        self.pad.clear()
        self.message.setText("")
        self._draw()

    def _submit(self, digits: str) -> None:
        if self.selected is None:
            # No name chosen: the digits are a staff number.
            entry = next((e for e in self._directory if str(e.number) == digits), None)
            if entry is None:
                self.message.setText(tr("staff.no_number", self._lang, n=digits))
                return
            self.choose(entry.name)
            return
        emit(self.login, self.selected, digits)

    def reset(self) -> None:
        self.selected = None
        self.pad.clear()
        self.message.setText("")
        self._draw()

    # -- drawing -----------------------------------------------------------------------------

    def set_language(self, lang: str) -> None:
        self._lang = lang
        self.title.setText(tr("staff.title", lang))
        self.back_button.setText(tr("common.back", lang))
        self.show_state(self._state)

    def show_directory(self, directory: tuple[StaffEntry, ...]) -> None:
        if directory == self._directory:
            return
        self._directory = directory
        for tile in self.tiles.values():
            self._tiles.removeWidget(tile)
            tile.deleteLater()
        self.tiles = {}
        for i, entry in enumerate(directory):
            tile = button(entry.name)
            tile.setMinimumHeight(96)
            tile.clicked.connect(lambda *_, n=entry.name: self.choose(n))
            self._tiles.addWidget(tile, i // TILE_COLUMNS, i % TILE_COLUMNS)
            tile.show()
            self.tiles[entry.name] = tile
        self._tiles.setRowStretch(len(directory) // TILE_COLUMNS + 1, 1)
        if self.selected not in self.tiles:
            self.selected = None
        self._draw()

    def show_state(self, state: StaffState) -> None:
        self._state = state
        self.show_directory(state.directory)
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
        self._draw()

    def _draw(self) -> None:
        lang = self._lang
        if self.selected is None:
            self.prompt.setText(tr("staff.choose_name", lang))
        else:
            self.prompt.setText(tr("staff.pin_for", lang, name=self.selected))
        for name, tile in self.tiles.items():
            chosen = name == self.selected
            tile.setProperty("chosen", chosen)
            tile.setStyleSheet("background: #1565c0; border: 4px solid #ffffff;" if chosen else "")
