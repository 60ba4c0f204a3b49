"""Staff: locker grid coloured by state, details and actions, overdue list, audit log.

Touch only: an action's reason is picked from the configured presets (``ui.staff_reasons``)
with an optional note on the on-screen keyboard; the audit filters are drop-down lists.
"""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QComboBox,
    QGridLayout,
    QHBoxLayout,
    QPushButton,
    QStackedWidget,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from lockers.config.ui import StaffReasons
from lockers.i18n import tr
from lockers.kiosk.dto import LockerView
from lockers.store.audit_values import AuditAction
from lockers.ui.controller import KioskStatus, StaffState
from lockers.ui.qt_compat import emit, forward
from lockers.ui.style import COLOURS, tile_style
from lockers.ui.widgets.common import button, label, on_click
from lockers.ui.widgets.reason_picker import ReasonPicker

# The audit filter's choices: "" (all) and every action the audit log can hold.
AUDIT_ACTIONS: tuple[str, ...] = ("", *(action.value for action in AuditAction))


def locker_state(view: LockerView, door: str | None = None) -> str:
    """The one state a tile shows, most urgent first. ``door``: the live reading from the board
    (the stored door state is only updated when the kiosk unlocks)."""
    if view.attention:
        return "attention"
    if (door or view.door_state) == "open":
        return "door_open"
    if view.status == "out_of_service":
        return "out_of_service"
    if view.overdue:
        return "overdue"
    if (door or view.door_state) == "unknown" and view.status == "occupied":
        return "unknown"
    return view.status if view.status in COLOURS else "unknown"


class StaffPanel(QWidget):
    action = Signal(str, str, str)  # action, label, reason
    refresh = Signal()
    audit_filter = Signal(str, str)  # action ("" = all), locker ("" = all)
    logout = Signal()

    def __init__(
        self,
        reasons: StaffReasons | None = None,
        audit_language: str = "ko",
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._lang = "ko"
        self._reasons = reasons or StaffReasons()
        self._state = StaffState()
        self._selected: str | None = None
        self._board_ok = True
        self.tiles: dict[str, QPushButton] = {}
        # Set by accessibility mode: the tiles' look, and their height in the low-reach band.
        self.tile_min_px = 100
        self.high_contrast = False
        self.text_scale = 1.0
        # Staff screens hold more: a denser variant of the kiosk style (targets still >= 64 px).
        self.setStyleSheet(
            "QPushButton { min-height: 56px; padding: 4px 12px; font-size: 22px; }"
            "QLabel#title { font-size: 32px; }"
        )
        layout = QVBoxLayout(self)
        layout.setContentsMargins(16, 8, 16, 8)
        layout.addLayout(self._top_row())
        self.alerts = label("", "error")
        layout.addWidget(self.alerts)
        self.kiosk_problems = label("", "notice")
        layout.addWidget(self.kiosk_problems)
        self.pages = QStackedWidget()  # the tabs, or the reason picker over them
        layout.addWidget(self.pages, 1)
        self.tabs = QTabWidget()
        self.pages.addWidget(self.tabs)
        self.reason_picker = ReasonPicker(audit_language)
        self.reason_picker.confirmed.connect(self._confirmed)
        self.reason_picker.cancelled.connect(self.close_picker)
        self.pages.addWidget(self.reason_picker)
        self.tabs.addTab(self._grid_page(), "")
        self.overdue = QTableWidget(0, 3)
        self.tabs.addTab(self.overdue, "")
        self.tabs.addTab(self._audit_page(), "")

    def _top_row(self) -> QHBoxLayout:
        top = QHBoxLayout()
        self.title = label("", "title")
        self.refresh_button = button("")
        on_click(self.refresh_button, forward(self.refresh))
        self.logout_button = button("", "danger")
        on_click(self.logout_button, forward(self.logout))
        top.addWidget(self.title, 2)
        top.addWidget(self.refresh_button, 1)
        top.addWidget(self.logout_button, 1)
        return top

    def _grid_page(self) -> QWidget:
        """The locker tiles beside the selected locker's details and action buttons."""
        page = QWidget()
        row = QHBoxLayout(page)
        self.grid_host = QWidget()
        self.grid = QGridLayout(self.grid_host)
        self.grid.setSpacing(10)
        row.addWidget(self.grid_host, 3)
        details = QVBoxLayout()
        self.details = label("", "body")
        details.addWidget(self.details, 1)
        self.open_button = button("")
        self.reset_button = button("")
        self.oos_button = button("")
        self.in_service_button = button("")
        actions = QGridLayout()  # two by two: they fit the low-reach band too
        for i, (name, widget) in enumerate(
            (
                ("open", self.open_button),
                ("reset", self.reset_button),
                ("out_of_service", self.oos_button),
                ("back_in_service", self.in_service_button),
            )
        ):
            widget.clicked.connect(lambda *_, n=name: self._act(n))
            actions.addWidget(widget, i // 2, i % 2)
        details.addLayout(actions)
        self.message = label("", "notice")
        details.addWidget(self.message)
        row.addLayout(details, 2)
        return page

    def _audit_page(self) -> QWidget:
        """The audit log under its filters (drop-down lists: no typing)."""
        page = QWidget()
        layout = QVBoxLayout(page)
        filters = QHBoxLayout()
        self.action_filter = QComboBox()
        for action in AUDIT_ACTIONS:
            self.action_filter.addItem(action, action)  # the label is set per language
        self.locker_filter = QComboBox()  # "" (all) and the lockers' labels
        self.locker_filter.addItem("")
        self.apply_filter = button("")
        self.apply_filter.clicked.connect(
            lambda: emit(
                self.audit_filter,
                AUDIT_ACTIONS[self.action_filter.currentIndex()],
                "" if self.locker_filter.currentIndex() <= 0 else self.locker_filter.currentText(),
            )
        )
        filters.addWidget(self.action_filter, 2)
        filters.addWidget(self.locker_filter, 1)
        filters.addWidget(self.apply_filter, 1)
        layout.addLayout(filters)
        self.audit = QTableWidget(0, 6)
        layout.addWidget(self.audit, 1)
        return page

    # -- drawing ----------------------------------------------------------------------------

    def set_language(self, lang: str) -> None:
        self._lang = lang
        self.title.setText(tr("staff.title", lang))
        self.refresh_button.setText(tr("staff.refresh", lang))
        self.logout_button.setText(tr("staff.logout", lang))
        self.open_button.setText(tr("staff.open", lang))
        self.reset_button.setText(tr("staff.reset", lang))
        self.oos_button.setText(tr("staff.oos", lang))
        self.in_service_button.setText(tr("staff.in_service", lang))
        self.locker_filter.setItemText(
            0, f"{tr('staff.filter.locker', lang)}: {tr('staff.filter.all', lang)}"
        )
        self.apply_filter.setText(tr("staff.refresh", lang))
        self.action_filter.setItemText(0, tr("staff.filter.all", lang))
        for index, action in enumerate(AUDIT_ACTIONS[1:], start=1):
            self.action_filter.setItemText(index, tr(f"audit.action.{action}", lang))
        self.reason_picker.set_language(lang)
        self.tabs.setTabText(0, tr("staff.lockers", lang))
        self.tabs.setTabText(1, tr("staff.overdue", lang))
        self.tabs.setTabText(2, tr("staff.audit", lang))
        self.show_state(self._state)

    def show_kiosk_status(self, status: KioskStatus) -> None:
        """Staff get the details customers are spared: what exactly is out of order."""
        details = []
        if status.model != "ready" and status.model_detail:
            details.append(f"model: {status.model_detail}")
        if status.analysis_error:
            details.append(f"model: {status.analysis_error}")
        if status.camera_ok is False:
            details.append(f"camera: {status.camera_detail}")
        if status.health is not None and not status.health.board_ok:
            details.append(f"board: {status.health.detail or 'offline'}")
        if status.service_error:
            details.append(f"services: {status.service_error}")
        details += [f"check {line}" for line in status.failed_checks]
        self.kiosk_problems.setText("\n".join(details))
        self.kiosk_problems.setVisible(bool(details))
        board_ok = status.health is None or status.health.board_ok
        if board_ok != self._board_ok:
            self._board_ok = board_ok
            self.show_state(self._state)

    def show_state(self, state: StaffState) -> None:
        self._state = state
        lang = self._lang
        self.alerts.setText(
            (tr("staff.alerts", lang) + ": " + " · ".join(state.alerts)) if state.alerts else ""
        )
        self.alerts.setVisible(bool(state.alerts))
        message = state.message
        self.message.setText(tr(message, lang) if message.startswith("staff.") else message)
        if state.session is None:  # logged out: the next staff member starts at the grid
            self.close_picker()
            self.tabs.setCurrentIndex(0)
            self._selected = None
        self._draw_grid(state)
        self._draw_locker_filter(state.lockers)
        self._draw_details()
        self._draw_overdue(state.lockers)
        self._draw_audit(state)
        for widget in (self.open_button, self.reset_button, self.oos_button):
            widget.setEnabled(not state.busy and self._selected is not None)
        self.in_service_button.setEnabled(not state.busy and self._selected is not None)

    def _draw_grid(self, state: StaffState) -> None:
        lockers = state.lockers
        labels = [v.label for v in lockers]
        if list(self.tiles) != labels:
            for tile in self.tiles.values():
                self.grid.removeWidget(tile)
                tile.deleteLater()
            self.tiles = {}
            columns = 4 if len(labels) <= 16 else 6
            for i, name in enumerate(labels):
                tile = button(name)
                tile.setMinimumHeight(self.tile_min_px + 10)
                tile.setMaximumHeight(150)
                tile.clicked.connect(lambda *_, n=name: self.select(n))
                self.grid.addWidget(tile, i // columns, i % columns)
                tile.show()  # a layout shows new children of a visible parent only later
                self.tiles[name] = tile
            self.grid.setRowStretch(len(labels) // columns + 1, 1)  # tiles stay tile-sized
        for view in lockers:
            # A silent board's doors are unknown: never show them as closed or free.
            door = state.doors.get(view.label)
            tile_state = locker_state(view, door) if self._board_ok else "unknown"
            tile = self.tiles[view.label]
            tile.setText(f"{view.label}\n{tr('state.' + tile_state, self._lang)}")
            # Its text on its state's colour (dark on amber and orange) and its own focus ring;
            # lower in the low-reach band.
            style = tile_style(
                tile_state,
                selected=view.label == self._selected,
                high_contrast=self.high_contrast,
                text_scale=self.text_scale,
            )
            if self.tile_min_px != 100:
                style += f"\nQPushButton {{ min-height: {self.tile_min_px}px; }}"
            tile.setStyleSheet(style)
            tile.setProperty("locker_state", tile_state)

    def set_look(self, *, high_contrast: bool, text_scale: float, tile_min_px: int) -> None:
        """Accessibility mode's contrast, text size and (low reach) tile height."""
        self.high_contrast, self.text_scale = high_contrast, text_scale
        self.tile_min_px = tile_min_px
        self.show_state(self._state)

    def select(self, name: str) -> None:
        self._selected = name
        self.show_state(self._state)

    def _selected_view(self) -> LockerView | None:
        return next((v for v in self._state.lockers if v.label == self._selected), None)

    def _draw_details(self) -> None:
        view = self._selected_view()
        if view is None:
            self.details.setText("")
            return
        lines = [
            f"{tr('staff.filter.locker', self._lang)} {view.label} ({view.size})",
            f"board {view.board} / channel {view.channel}",
            f"{view.status} · door {self._state.doors.get(view.label, view.door_state)}",
        ]
        if view.rental_id is not None:
            lines.append(f"rental {view.rental_id}")
            if view.rental_started_at is not None:
                lines.append(f"since {view.rental_started_at:%Y-%m-%d %H:%M} UTC")
            if view.rental_ends_at is not None:
                lines.append(f"until {view.rental_ends_at:%Y-%m-%d %H:%M} UTC")
        if view.attention:
            lines.append(f"⚠ {view.attention}")
        self.details.setText("\n".join(lines))

    def _draw_overdue(self, lockers: tuple[LockerView, ...]) -> None:
        rows = [v for v in lockers if v.overdue]
        self.overdue.setRowCount(len(rows))
        self.overdue.setHorizontalHeaderLabels(["locker", "rental", "ended at (UTC)"])
        for r, view in enumerate(rows):
            ends = f"{view.rental_ends_at:%Y-%m-%d %H:%M}" if view.rental_ends_at else ""
            for c, text in enumerate((view.label, str(view.rental_id), ends)):
                self.overdue.setItem(r, c, QTableWidgetItem(text))

    def _draw_audit(self, state: StaffState) -> None:
        self.audit.setRowCount(len(state.audit))
        self.audit.setHorizontalHeaderLabels(
            ["at (UTC)", "actor", "action", "outcome", "locker", "reason"]
        )
        for r, row in enumerate(state.audit):
            values = (
                f"{row.at:%m-%d %H:%M:%S}",
                row.actor,
                row.action,
                row.outcome,
                row.locker_label or "",
                row.reason or "",
            )
            for c, text in enumerate(values):
                self.audit.setItem(r, c, QTableWidgetItem(text))
        self.audit.resizeColumnsToContents()

    def _draw_locker_filter(self, lockers: tuple[LockerView, ...]) -> None:
        labels = [v.label for v in lockers]
        shown = [self.locker_filter.itemText(i) for i in range(1, self.locker_filter.count())]
        if shown != labels:
            current = self.locker_filter.currentText()
            while self.locker_filter.count() > 1:
                self.locker_filter.removeItem(1)
            self.locker_filter.addItems(labels)
            if current in labels:
                self.locker_filter.setCurrentText(current)

    def _act(self, name: str) -> None:
        """An action button: back in service needs no reason; the others ask for one."""
        if self._selected is None:
            return
        if name == "back_in_service":
            emit(self.action, name, self._selected, "")
            return
        self.reason_picker.ask(name, self._selected, getattr(self._reasons, name))
        self.pages.setCurrentWidget(self.reason_picker)

    def _confirmed(self, action: str, locker_label: str, reason: str) -> None:
        self.close_picker()
        emit(self.action, action, locker_label, reason)

    def close_picker(self) -> None:
        self.pages.setCurrentWidget(self.tabs)

    @property
    def picking_reason(self) -> bool:
        return self.pages.currentWidget() is self.reason_picker
