"""Low reach: every control in a band at the bottom of the screen, the words above it.

A seated user reaches the lower part of a 1280x800 screen (``accessibility.reach_band_px`` of
it). In low-reach mode the window shows the current screen's words in large type at the top
(the upper display, nothing to press there) and the screen itself, compacted, in the band: its
word labels fold away (their words are in the upper display), its buttons shrink to 48 px (still
above the 44 px of WCAG's target size), the camera preview to a small mirror; the staff corner
and the language button join the access bar at the bottom.
"""

from __future__ import annotations

from PySide6.QtWidgets import QAbstractButton, QLabel, QWidget

from lockers.ui.access.speech import INFO_LABELS

COMPACT_BUTTON_PX = 48
TILE_PX = 44  # a staff locker tile in the band: label and state on two lines
_WIDGET_MAX = 16777215  # QWIDGETSIZE_MAX
COMPACT_STYLE = """
QPushButton { min-height: 48px; padding: 2px 10px; }
QPushButton#primary, QPushButton#secondary { min-height: 96px; }
QPushButton#digit { min-height: 48px; }
QLabel#choiceTitle { font-size: 30px; }
QLabel#choiceSub { font-size: 18px; }
QTabBar::tab { min-height: 44px; }
"""


def compact(root: QWidget) -> None:
    """Fold ``root``'s word labels and shrink its buttons (idempotent: run it again whenever
    the screens built new tiles)."""
    for label in root.findChildren(QLabel):
        if label.objectName() in INFO_LABELS and label.maximumHeight() != 0:
            label.setProperty("reach_max_h", label.maximumHeight())
            label.setMaximumHeight(0)
    for widget in root.findChildren(QAbstractButton):
        minimum = widget.minimumHeight()
        floor = 96 if widget.objectName() in ("primary", "secondary") else COMPACT_BUTTON_PX
        if minimum > floor:
            widget.setProperty("reach_min_h", minimum)
            widget.setMinimumHeight(floor)
        if widget.maximumHeight() > 2 * floor:
            widget.setProperty("reach_max_h", widget.maximumHeight())
            widget.setMaximumHeight(2 * floor)


def restore(root: QWidget) -> None:
    """Undo :func:`compact`."""
    for widget in root.findChildren(QWidget):
        max_h = widget.property("reach_max_h")
        if max_h is not None:
            widget.setMaximumHeight(int(max_h) if max_h else _WIDGET_MAX)
            widget.setProperty("reach_max_h", None)
        min_h = widget.property("reach_min_h")
        if min_h is not None:
            widget.setMinimumHeight(int(min_h))
            widget.setProperty("reach_min_h", None)


def inside_band(widget: QWidget, window: QWidget, band_px: int) -> bool:
    """Whether ``widget`` lies wholly in the bottom ``band_px`` of ``window`` (a 1280x800 one)."""
    top = widget.mapTo(window, widget.rect().topLeft()).y()
    bottom = top + widget.height()
    return top >= window.height() - band_px and bottom <= window.height()
