"""Consent: what is stored, for how long, that it is deleted at checkout; agree or decline."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QHBoxLayout, QVBoxLayout, QWidget

from lockers.i18n import tr
from lockers.ui.qt_compat import forward
from lockers.ui.widgets.common import button, label, on_click


class ConsentScreen(QWidget):
    # Two argument-free signals rather than Signal(bool): PySide6 6.12 loses a reference to
    # True/False on every bool delivered to a Python slot (a crash at interpreter exit).
    accepted = Signal()
    declined = Signal()

    def __init__(self, retention_hours: float, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._hours = retention_hours
        layout = QVBoxLayout(self)
        layout.setContentsMargins(64, 32, 64, 32)
        layout.setSpacing(24)
        self.title = label("", "title")
        self.body = label("", "body")
        layout.addWidget(self.title)
        layout.addWidget(self.body, 1)
        row = QHBoxLayout()
        row.setSpacing(32)
        self.decline = button("", "")
        self.accept = button("", "secondary")
        on_click(self.decline, forward(self.declined))
        on_click(self.accept, forward(self.accepted))
        row.addWidget(self.decline)
        row.addWidget(self.accept)
        layout.addLayout(row)

    def focus_order(self) -> list[QWidget]:
        """Agree first: the keypad user has just heard what agreeing means."""
        return [self.accept, self.decline]

    def set_language(self, lang: str) -> None:
        self.title.setText(tr("consent.title", lang))
        self.body.setText(tr("consent.body", lang, hours=f"{self._hours:g}"))
        self.accept.setText(tr("consent.accept", lang))
        self.decline.setText(tr("consent.decline", lang))
