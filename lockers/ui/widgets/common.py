"""Small building blocks: labels and buttons with the kiosk's style names."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QPushButton, QSizePolicy, QVBoxLayout, QWidget


def on_click(widget: QPushButton, callback: Callable[[], object]) -> None:
    """Call ``callback()`` when ``widget`` is clicked, dropping the ``checked`` argument.

    Every click handler goes through here: PySide6 6.12 on Python 3.11 loses a reference to
    True/False whenever ``clicked(bool)`` is forwarded to a signal's ``emit`` or a bool travels
    through a signal to Python, which crashes the interpreter at exit; a plain Python function
    that ignores the argument is safe.
    """
    widget.clicked.connect(lambda *_: callback())


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


class ChoiceButton(QPushButton):
    """A big button with a title and a smaller, wrapping subtitle (QPushButton cannot wrap)."""

    def __init__(self, name: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName(name)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(24, 24, 24, 24)
        self.title = label("", "choiceTitle")
        self.subtitle = label("", "choiceSub")
        for part in (self.title, self.subtitle):
            part.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
            part.setStyleSheet("background: transparent;")
            layout.addWidget(part)

    def set_texts(self, title: str, subtitle: str) -> None:
        self.title.setText(title)
        self.subtitle.setText(subtitle)
        self.setAccessibleName(title)
