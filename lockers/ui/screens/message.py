"""Everything after the camera: working, locker open, done, not recognised, failures."""

from __future__ import annotations

import math

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QHBoxLayout, QVBoxLayout, QWidget

from lockers.i18n import tr
from lockers.kiosk.flow import FlowView, Phase, Problem
from lockers.ui.qt_compat import forward
from lockers.ui.widgets.common import button, label, on_click

STAFF_PROBLEMS = frozenset({Problem.DOOR_NOT_CONFIRMED, Problem.SERVICE_ERROR})


class MessageScreen(QWidget):
    retry_pressed = Signal()
    home_pressed = Signal()
    done_pressed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._lang = "ko"
        self._view = FlowView()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(64, 32, 64, 32)
        layout.setSpacing(16)
        self.title = label("", "title")
        self.big = label("", "huge")
        self.body = label("", "body")
        self.staff_call = label("", "error")
        layout.addWidget(self.title)
        layout.addWidget(self.big, 1)
        layout.addWidget(self.body)
        layout.addWidget(self.staff_call)
        row = QHBoxLayout()
        row.setSpacing(32)
        self.home = button("")
        self.retry = button("", "secondary")
        self.done = button("", "primary")
        on_click(self.home, forward(self.home_pressed))
        on_click(self.retry, forward(self.retry_pressed))
        on_click(self.done, forward(self.done_pressed))
        for widget in (self.home, self.retry, self.done):
            row.addWidget(widget)
        layout.addLayout(row)

    def set_language(self, lang: str) -> None:
        self._lang = lang
        self.show_view(self._view)

    def show_view(self, view: FlowView) -> None:
        self._view = view
        lang = self._lang
        title = big = body = staff = ""
        show_home = show_retry = show_done = False
        phase = view.phase
        if phase is Phase.REGISTERING:
            title = tr("reg.working", lang)
        elif phase is Phase.RETRIEVING:
            title = tr("ret.working", lang)
        elif phase is Phase.REGISTER_OPEN:
            title = tr("reg.open.title", lang, label=view.locker_label)
            big = view.locker_label or ""
            body = tr("reg.open.body", lang)
            if view.reopened:
                body = tr("reg.reopened", lang) + "\n" + body
            show_done = True
        elif phase is Phase.RETRIEVE_OPEN:
            title = tr("ret.open.title", lang, label=view.locker_label)
            big = view.locker_label or ""
            body = tr("ret.open.body", lang)
            show_done = True
        elif phase is Phase.DONE:
            title = tr("done.title", lang)
            big = view.locker_label or ""
            body = tr("done.retrieve" if view.retrieving else "done.register", lang)
            show_home = True
        elif phase is Phase.NOT_RECOGNISED:
            title = tr("ret.not_recognised", lang)
            body = tr("ret.not_recognised.body", lang)
            if view.retry_in_s > 0:
                body += "\n" + tr("ret.wait", lang, s=math.ceil(view.retry_in_s))
            staff = tr("common.staff_call", lang)
            show_home = show_retry = True
        elif phase is Phase.FAILED and view.problem is not None:
            title, big, body, staff = _failure_texts(view.problem, view, lang)
            show_home = True
            show_retry = view.can_retry
        self.title.setText(title)
        self.big.setText(big)
        self.big.setVisible(bool(big))
        self.body.setText(body)
        self.staff_call.setText(staff)
        self.staff_call.setVisible(bool(staff))
        self.home.setText(tr("common.back", lang))
        self.retry.setText(tr("common.retry", lang))
        self.done.setText(tr("common.done", lang))
        self.home.setVisible(show_home)
        self.retry.setVisible(show_retry)
        self.retry.setEnabled(view.retry_in_s <= 0)
        self.done.setVisible(show_done)


def _failure_texts(problem: Problem, view: FlowView, lang: str) -> tuple[str, str, str, str]:
    """Title, big text, body and staff line of a FAILED screen."""
    elsewhere = problem is Problem.AT_OTHER_KIOSK
    title = tr("fail.at_other_kiosk.title" if elsewhere else "fail.title", lang)
    big = view.locker_label or "" if problem in STAFF_PROBLEMS or elsewhere else ""
    label, place = view.locker_label or "?", view.detail or "?"
    body = tr(f"fail.{problem.value}", lang, label=label, place=place)
    staff = tr("common.staff_call", lang) if problem in STAFF_PROBLEMS else ""
    return title, big, body, staff
