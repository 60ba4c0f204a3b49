"""An invisible corner that emits ``activated`` after being held down: the discreet staff entry."""

from __future__ import annotations

from PySide6.QtCore import QTimer, Signal
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QWidget

from lockers.ui.qt_compat import forward


class LongPressArea(QWidget):
    """Emits ``activated`` when pressed for ``hold_ms`` without releasing."""

    activated = Signal()

    def __init__(self, hold_ms: int = 2000, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setFixedSize(96, 96)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(hold_ms)
        self._timer.timeout.connect(forward(self.activated))

    def mousePressEvent(self, event: QMouseEvent) -> None:
        self._timer.start()
        event.accept()

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        self._timer.stop()
        event.accept()
