"""The access bar: on every screen, the buttons of accessibility mode.

Voice & keys (the mode), high contrast, large text, low reach, call staff, and "more time"
while a timeout warning is on. Its buttons come after the screen's own in the focus order.
"""

from __future__ import annotations

from PySide6.QtCore import QTimer, Signal
from PySide6.QtWidgets import QHBoxLayout, QPushButton, QSizePolicy, QWidget

from lockers.i18n import tr
from lockers.ui.qt_compat import forward
from lockers.ui.widgets.common import button, label, on_click

CHECK = "✓ "


class AccessBar(QWidget):
    mode_pressed = Signal()
    contrast_pressed = Signal()
    large_text_pressed = Signal()
    low_reach_pressed = Signal()
    call_staff_pressed = Signal()
    more_time_pressed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("accessBar")
        self.row = QHBoxLayout(self)
        self.row.setContentsMargins(12, 4, 12, 4)
        self.row.setSpacing(8)
        # The bar keeps the normal type size under large text: at 1.5x its six buttons need
        # two rows, which pushes every screen past the 800 px of the kiosk's display. Each is
        # spoken when the keypad focus reaches it.
        self.setStyleSheet("QPushButton { font-size: 22px; min-height: 56px; padding: 4px 14px; }")
        self.mode = self._button(self.mode_pressed)
        self.contrast = self._button(self.contrast_pressed)
        self.large_text = self._button(self.large_text_pressed)
        self.low_reach = self._button(self.low_reach_pressed)
        self.more_time = self._button(self.more_time_pressed)
        self.call_staff = self._button(self.call_staff_pressed, "danger")
        self.more_time.setVisible(False)
        # "Help is on its way" after a call, for a minute (the voice says it too); the window
        # shows it among its banners.
        self.notice = label("", "notice")
        self.notice.setVisible(False)
        self._notice_timer = QTimer(self)
        self._notice_timer.setSingleShot(True)
        self._notice_timer.setInterval(60_000)
        self._notice_timer.timeout.connect(lambda: self.notice.setVisible(False))
        self._lang = "ko"
        self._notice_key = ""

    def show_notice(self, key: str) -> None:
        """Show the text ``key`` (in the bar's language, also after a change) for a minute."""
        self._notice_key = key
        self.notice.setText(tr(key, self._lang))
        self.notice.setVisible(True)
        self._notice_timer.start()

    def clear_notice(self) -> None:
        self._notice_timer.stop()
        self.notice.setVisible(False)

    def _button(self, signal: Signal, name: str = "lang") -> QPushButton:
        widget = button("", name)
        widget.setCheckable(name == "lang")
        widget.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)
        on_click(widget, forward(signal))
        self.row.addWidget(widget)
        return widget

    def set_language(self, lang: str) -> None:
        self._lang = lang
        for widget, key in (
            (self.mode, "a11y.mode"),
            (self.contrast, "a11y.contrast"),
            (self.large_text, "a11y.large_text"),
            (self.low_reach, "a11y.low_reach"),
            (self.more_time, "a11y.more_time"),
            (self.call_staff, "a11y.call_staff"),
        ):
            widget.setText((CHECK if widget.isChecked() else "") + tr(key, lang))
        if self._notice_key:
            self.notice.setText(tr(self._notice_key, lang))

    def show_state(
        self, *, mode: bool, contrast: bool, large_text: bool, low_reach: bool, warning: bool
    ) -> None:
        """The toggles' checked states; "more time" only while a timeout is near."""
        for widget, on in (
            (self.mode, mode),
            (self.contrast, contrast),
            (self.large_text, large_text),
            (self.low_reach, low_reach),
        ):
            widget.setChecked(on)
            # On is seen without colour (the palettes do not style :checked): a check mark.
            text = widget.text().removeprefix(CHECK)
            widget.setText(CHECK + text if on else text)
        self.more_time.setVisible(warning)

    def buttons(self) -> list[QPushButton]:
        return [
            self.mode,
            self.contrast,
            self.large_text,
            self.low_reach,
            self.more_time,
            self.call_staff,
        ]
