"""The focus order of a screen and moving through it by keys.

A screen may say its own order (``focus_order()``: the PIN screen's names, then its pad, then
Back); otherwise its controls come in reading order (top to bottom, left to right), which is the
order its layout draws them. The access bar's buttons come after the screen's own. Only shown,
enabled controls take part.
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractItemView,
    QComboBox,
    QScrollArea,
    QTabBar,
    QWidget,
)

CONTROL_TYPES = (QAbstractButton, QComboBox, QTabBar)


def usable(widget: QWidget, root: QWidget) -> bool:
    return widget.isVisibleTo(root) and widget.isEnabled()


def reading_order(screen: QWidget) -> list[QWidget]:
    """The screen's shown, enabled controls, top to bottom and left to right."""
    found = [
        w
        for w in screen.findChildren(QWidget)
        if isinstance(w, CONTROL_TYPES) and usable(w, screen) and not _inner(w)
    ]

    def position(widget: QWidget) -> tuple[int, int]:
        point = widget.mapTo(screen, widget.rect().topLeft())
        return (point.y() // 24, point.x())

    return sorted(found, key=position)


def _inner(widget: QWidget) -> bool:
    """A part of another control (a combo box's, tab bar's or table's own buttons)."""
    parent = widget.parentWidget()
    return isinstance(parent, QComboBox | QTabBar | QAbstractItemView)


def screen_controls(screen: QWidget) -> list[QWidget]:
    order = getattr(screen, "focus_order", None)
    if callable(order):
        return [w for w in order() if usable(w, screen)]
    return reading_order(screen)


class FocusRing:
    """Which control has the keypad's focus; moves with NEXT/PREVIOUS, wraps around."""

    def __init__(self) -> None:
        self.controls: list[QWidget] = []
        self.current: QWidget | None = None

    def reset(
        self, controls: Sequence[QWidget], keep: bool = False, show: bool = True
    ) -> QWidget | None:
        """The screen's controls changed: the focus stays on the same control when ``keep``
        and it is still there, else goes to the first. ``show=False``: nobody uses keys (the
        focus ring would only puzzle a touch user)."""
        self.controls = list(controls)
        if not (keep and self.current in self.controls):
            self.current = self.controls[0] if self.controls else None
        if show:
            self._show()
        return self.current

    def move(self, steps: int) -> QWidget | None:
        if not self.controls:
            self.current = None
            return None
        index = self.controls.index(self.current) if self.current in self.controls else -steps
        self.current = self.controls[(index + steps) % len(self.controls)]
        self._show()
        return self.current

    def _show(self) -> None:
        widget = self.current
        if widget is None:
            return
        if widget.focusPolicy() == Qt.FocusPolicy.NoFocus:
            widget.setFocusPolicy(Qt.FocusPolicy.TabFocus)  # the style's focus ring shows it
        widget.setFocus(Qt.FocusReason.TabFocusReason)
        parent = widget.parentWidget()
        while parent is not None:  # a name or locker tile scrolled out of view comes in
            if isinstance(parent, QScrollArea):
                parent.ensureWidgetVisible(widget)
                break
            parent = parent.parentWidget()


def activate(widget: QWidget) -> None:
    """Press a button; step a list or tab bar to its next choice."""
    if isinstance(widget, QAbstractButton):
        widget.click()
    elif isinstance(widget, QComboBox | QTabBar) and widget.count():
        widget.setCurrentIndex((widget.currentIndex() + 1) % widget.count())
