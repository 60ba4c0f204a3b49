"""Small building blocks: labels and buttons with the kiosk's style names."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QPushButton, QSizePolicy, QWidget


def label(text: str = "", name: str = "body", parent: QWidget | None = None) -> QLabel:
    widget = QLabel(text, parent)
    widget.setObjectName(name)
    widget.setWordWrap(True)
    widget.setAlignment(Qt.AlignmentFlag.AlignCenter)
    return widget


def button(text: str = "", name: str = "", parent: QWidget | None = None) -> QPushButton:
    widget = QPushButton(text, parent)
    if name:
        widget.setObjectName(name)
    widget.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
    widget.setFocusPolicy(Qt.FocusPolicy.NoFocus)
    return widget
