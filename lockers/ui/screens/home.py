"""Home: Register / Retrieve, free lockers, and the out-of-order screen customers see."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QStackedLayout, QVBoxLayout, QWidget

from lockers.i18n import tr
from lockers.ui.controller import KioskStatus
from lockers.ui.qt_compat import forward
from lockers.ui.widgets.common import ChoiceButton, label, on_click


class HomeScreen(QWidget):
    register_pressed = Signal()
    retrieve_pressed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._lang = "ko"
        self._status = KioskStatus()
        self._stack = QStackedLayout(self)

        serving = QWidget()
        layout = QVBoxLayout(serving)
        layout.setContentsMargins(48, 24, 48, 24)
        layout.setSpacing(24)
        self.title = label("", "title")
        layout.addWidget(self.title)
        buttons = QHBoxLayout()
        buttons.setSpacing(32)
        self.register_button = ChoiceButton("primary")
        self.retrieve_button = ChoiceButton("secondary")
        on_click(self.register_button, forward(self.register_pressed))
        on_click(self.retrieve_button, forward(self.retrieve_pressed))
        buttons.addWidget(self.register_button)
        buttons.addWidget(self.retrieve_button)
        layout.addLayout(buttons, 1)
        self.free = label("", "subtitle")
        layout.addWidget(self.free)
        self._stack.addWidget(serving)

        broken = QWidget()
        out = QVBoxLayout(broken)
        out.setContentsMargins(48, 48, 48, 48)
        self.ooo_title = label("", "title")
        self.ooo_body = label("", "body")
        self.ooo_detail = label("", "notice")
        # Failed start-up checks, with their fix: for the staff member called to the kiosk.
        self.ooo_staff = label("", "staffDetail")
        self.ooo_staff.setAlignment(Qt.AlignmentFlag.AlignLeft)
        out.addStretch(1)
        out.addWidget(self.ooo_title)
        out.addWidget(self.ooo_body)
        out.addWidget(self.ooo_detail)
        out.addWidget(self.ooo_staff)
        out.addStretch(1)
        self._stack.addWidget(broken)

    def set_language(self, lang: str) -> None:
        self._lang = lang
        self.show_status(self._status)

    def show_status(self, status: KioskStatus) -> None:
        self._status = status
        lang = self._lang
        self.title.setText(tr("app.title", lang))
        self.register_button.set_texts(tr("home.register", lang), tr("home.register.sub", lang))
        self.retrieve_button.set_texts(tr("home.retrieve", lang), tr("home.retrieve.sub", lang))
        health = status.health
        full = health is not None and health.free_lockers == 0
        if not status.ready:
            self.free.setText(tr("home.loading", lang))
        elif health is None:
            self.free.setText("")
        elif full:
            self.free.setText(tr("home.full", lang))
        else:
            self.free.setText(
                tr("home.free", lang, free=health.free_lockers, total=health.total_lockers)
            )
        self.register_button.setEnabled(status.ready and not full)
        self.retrieve_button.setEnabled(status.ready)
        if status.out_of_order:
            self.ooo_title.setText(tr("ooo.title", lang))
            self.ooo_body.setText(tr("ooo.body", lang))
            # Customers see what is wrong in plain words; staff get the details on their screen.
            self.ooo_detail.setText(" · ".join(tr(key, lang) for key in status.problems))
            checks = status.failed_checks
            self.ooo_staff.setText(
                (tr("ooo.staff", lang) + "\n" + "\n".join(f"• {c}" for c in checks))
                if checks
                else ""
            )
            self.ooo_staff.setVisible(bool(checks))
            self._stack.setCurrentIndex(1)
        else:
            self._stack.setCurrentIndex(0)

    @property
    def out_of_order_shown(self) -> bool:
        return self._stack.currentIndex() == 1
