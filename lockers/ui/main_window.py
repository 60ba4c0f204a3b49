"""The kiosk window: a top bar (banner, language, hidden staff corner) over a stack of screens."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtGui import QCloseEvent, QKeyEvent
from PySide6.QtWidgets import (
    QApplication,
    QHBoxLayout,
    QLineEdit,
    QMainWindow,
    QSizePolicy,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from lockers.config.accessibility import AccessibilityConfig
from lockers.config.ui import StaffReasons
from lockers.i18n import tr
from lockers.kiosk.flow import FlowView, Phase
from lockers.ui.access import reach
from lockers.ui.access.access_controller import AccessController
from lockers.ui.access.bar import AccessBar
from lockers.ui.access.speech import info_labels
from lockers.ui.camera_worker import FramePacket
from lockers.ui.controller import KioskController, KioskStatus, StaffState
from lockers.ui.qt_compat import emit
from lockers.ui.screens.camera import CameraScreen
from lockers.ui.screens.consent import ConsentScreen
from lockers.ui.screens.home import HomeScreen
from lockers.ui.screens.message import MessageScreen
from lockers.ui.screens.staff_login import StaffLoginScreen
from lockers.ui.screens.staff_panel import StaffPanel
from lockers.ui.style import STYLE
from lockers.ui.voice_port import SilentVoice, Voice
from lockers.ui.widgets.common import button, label, on_click
from lockers.ui.widgets.long_press import LongPressArea

CAMERA_PHASES = frozenset({Phase.CAPTURE, Phase.LIVENESS, Phase.CHALLENGE, Phase.RETRIEVE_SCAN})
# In a text field (a staff note) only these keys are the kiosk's; the rest type.
_FIELD_KEYS = frozenset(
    {Qt.Key.Key_Tab, Qt.Key.Key_Backtab, Qt.Key.Key_Up, Qt.Key.Key_Down, Qt.Key.Key_Escape}
    | {getattr(Qt.Key, f"Key_F{n}") for n in range(1, 13)}
)


class MainWindow(QMainWindow):
    """Draws what the controller publishes; forwards presses to it. Owns no kiosk logic."""

    def __init__(
        self,
        controller: KioskController,
        *,
        retention_hours: float = 72.0,
        staff_hold_ms: int = 2000,
        staff_reasons: StaffReasons | None = None,
        audit_language: str = "ko",
        accessibility: AccessibilityConfig | None = None,
        voice: Voice | None = None,
    ) -> None:
        super().__init__()
        self.controller = controller
        self.setWindowTitle("Lockers")
        self.setStyleSheet(STYLE)
        self.resize(1280, 800)
        self._staff_mode = False
        root = QWidget()
        outer = QVBoxLayout(root)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.setSpacing(0)
        # Accessibility mode's buttons: in the top bar, in the band at the bottom in low reach.
        self.access_bar = AccessBar()
        outer.addLayout(self._top_bar(staff_hold_ms))
        # Low reach: the screen's words up here, every control in the band below.
        self.upper = label("", "guidance")
        self.upper.setVisible(False)
        # Its words never make the window taller than the screen: what does not fit is cut.
        self.upper.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Ignored)
        outer.addWidget(self.upper, 1)
        self._outer = outer
        self.band = QWidget()
        band = QVBoxLayout(self.band)
        band.setContentsMargins(0, 0, 0, 0)
        band.setSpacing(0)
        self.stack = QStackedWidget()
        band.addWidget(self.stack, 1)
        outer.addWidget(self.band, 1)
        self.home = HomeScreen()
        self.consent = ConsentScreen(retention_hours)
        self.camera = CameraScreen()
        self.message = MessageScreen()
        self.staff_login = StaffLoginScreen()
        self.staff_panel = StaffPanel(staff_reasons, audit_language)
        for screen in self._screens():
            self.stack.addWidget(screen)
        self.setCentralWidget(root)
        self._connect(controller)
        app = QApplication.instance()
        if app is not None:
            app.installEventFilter(self)
        self.set_language(controller.language)
        self.show_status(controller.status)
        self.show_view(controller.flow.view)
        self.access = AccessController(
            self, accessibility or AccessibilityConfig(), voice or SilentVoice()
        )

    def _top_bar(self, staff_hold_ms: int) -> QHBoxLayout:
        """The hidden staff corner, the banners and the language button."""
        bar = QHBoxLayout()
        bar.setContentsMargins(0, 0, 12, 0)
        self.staff_corner = LongPressArea(staff_hold_ms)
        self.staff_corner.activated.connect(self.enter_staff)
        bar.addWidget(self.staff_corner, 0, Qt.AlignmentFlag.AlignTop)
        self.top_bar = bar
        banners = QVBoxLayout()
        self.banner = label("", "banner")
        self.notices = label("", "notice")
        banners.addWidget(self.banner)
        banners.addWidget(self.notices)
        banners.addWidget(self.access_bar.notice)
        bar.addLayout(banners, 1)
        bar.addWidget(self.access_bar, 0, Qt.AlignmentFlag.AlignTop)
        self.language_button = button("", "lang")
        self.language_button.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
        on_click(self.language_button, self.controller.toggle_language)
        bar.addWidget(self.language_button, 0, Qt.AlignmentFlag.AlignTop)
        return bar

    def _screens(self) -> tuple[QWidget, ...]:
        return (
            self.home,
            self.consent,
            self.camera,
            self.message,
            self.staff_login,
            self.staff_panel,
        )

    def _connect(self, controller: KioskController) -> None:
        """Presses go to the controller; what it publishes is drawn here."""
        self.home.register_pressed.connect(controller.register)
        self.home.retrieve_pressed.connect(controller.retrieve)
        self.consent.accepted.connect(controller.consent_given)
        self.consent.declined.connect(controller.consent_refused)
        self.camera.cancel_pressed.connect(controller.cancel)
        self.message.retry_pressed.connect(controller.retry)
        self.message.home_pressed.connect(controller.cancel)
        self.message.done_pressed.connect(controller.finish)
        self.staff_login.login.connect(controller.staff_login)
        self.staff_login.back.connect(self.leave_staff)
        self.staff_panel.action.connect(controller.staff_action)
        self.staff_panel.refresh.connect(controller.staff_refresh)
        self.staff_panel.audit_filter.connect(
            lambda action, locker: controller.staff_audit(action or None, locker or None)
        )
        self.staff_panel.logout.connect(lambda: controller.staff_logout("logout"))
        controller.view_changed.connect(self.show_view)
        controller.status_changed.connect(self.show_status)
        controller.frame_ready.connect(self.show_frame)
        controller.language_changed.connect(self.set_language)
        controller.staff_changed.connect(self.show_staff)

    # -- drawing ----------------------------------------------------------------------------

    def set_language(self, lang: str) -> None:
        self.language_button.setText(tr("lang.switch", lang))
        self.access_bar.set_language(lang)
        for screen in self._screens():
            screen.set_language(lang)  # type: ignore[attr-defined]
        self.show_status(self.controller.status)

    def show_status(self, status: KioskStatus) -> None:
        lang = self.controller.language
        self.banner.setText(tr("banner.untrained", lang) if status.untrained else "")
        self.banner.setVisible(status.untrained)
        self.notices.setText(" · ".join(status.notices))
        self.notices.setVisible(bool(status.notices))
        self.home.show_status(status)
        self.staff_panel.show_kiosk_status(status)

    def show_view(self, view: FlowView) -> None:
        if self._staff_mode:
            return
        if view.phase not in CAMERA_PHASES:
            self.camera.preview.clear()  # no picture of the last customer stays in memory
        if view.phase is Phase.HOME:
            self.stack.setCurrentWidget(self.home)
        elif view.phase is Phase.CONSENT:
            self.stack.setCurrentWidget(self.consent)
        elif view.phase in CAMERA_PHASES:
            self.camera.show_view(view)
            self.stack.setCurrentWidget(self.camera)
        else:
            self.message.show_view(view)
            self.stack.setCurrentWidget(self.message)

    def show_frame(self, packet: FramePacket) -> None:
        if self.stack.currentWidget() is self.camera:
            self.camera.show_frame(packet)

    def show_staff(self, state: StaffState) -> None:
        self.staff_login.show_state(state)
        self.staff_panel.show_state(state)
        if not self._staff_mode:
            return
        if state.session is not None:
            self.stack.setCurrentWidget(self.staff_panel)
        elif self.stack.currentWidget() is self.staff_panel:
            self.leave_staff()

    def enter_staff(self) -> None:
        """The hidden corner was held: show the PIN pad (the customer flow is abandoned).

        Not while a call that can open a door runs: the customer must first be told which
        locker opened; staff hold the corner again once it answered."""
        if self.controller.door_call_running:
            emit(self.controller.log_line, "staff corner: waits for the running door call")
            return
        self.controller.cancel()
        self._staff_mode = True
        self.controller.staff_directory()  # names added since start-up get their tile
        self.staff_login.reset()
        self.stack.setCurrentWidget(
            self.staff_panel if self.controller.staff.session else self.staff_login
        )

    def leave_staff(self) -> None:
        self._staff_mode = False
        self.staff_login.reset()
        self.show_view(self.controller.flow.view)
        self.access.staff_left()

    @property
    def current_screen(self) -> QWidget | None:
        return self.stack.currentWidget()

    @property
    def staff_mode(self) -> bool:
        return self._staff_mode

    # -- accessibility (the access controller drives these) -----------------------------------

    def bar_controls(self) -> list[QWidget]:
        """The controls after every screen's own, in focus order."""
        return [*self.access_bar.buttons(), self.language_button]

    def back_control(self) -> QWidget | None:
        """What the Back key presses on the current screen (``None``: nothing to go back to)."""
        screen = self.current_screen
        if screen is self.staff_panel:
            picker = self.staff_panel.reason_picker
            return picker.cancel_button if self.staff_panel.picking_reason else None
        candidates: dict[QWidget | None, list[QWidget]] = {
            self.consent: [self.consent.decline],
            self.camera: [self.camera.cancel],
            self.message: [self.message.home, self.message.done],
            self.staff_login: [self.staff_login.back_button],
        }
        shown = [w for w in candidates.get(screen, []) if w.isVisibleTo(self) and w.isEnabled()]
        return shown[0] if shown else None

    def set_low_reach(self, on: bool, band_px: int) -> None:
        """Every control into the bottom ``band_px``; the words into the upper display."""
        if on == self.upper.isVisible() and (not on or self.band.height() == band_px):
            return
        self.upper.setVisible(on)
        row = self.access_bar.row
        self._outer.setStretchFactor(self.band, 0 if on else 1)
        if on:
            self.band.setFixedHeight(band_px)
            self.staff_corner.setFixedSize(48, 48)
            row.insertWidget(0, self.staff_corner)
            row.addWidget(self.language_button)
            self.band.layout().addWidget(self.access_bar)
            reach.compact(self.stack)
            self.refresh_upper()
        else:
            self.band.setMinimumHeight(0)
            self.band.setMaximumHeight(16777215)
            self.staff_corner.setFixedSize(96, 96)
            top = self.top_bar
            top.insertWidget(0, self.staff_corner, 0, Qt.AlignmentFlag.AlignTop)
            top.addWidget(self.access_bar, 0, Qt.AlignmentFlag.AlignTop)
            top.addWidget(self.language_button, 0, Qt.AlignmentFlag.AlignTop)
            reach.restore(self.stack)
        self._outer.activate()  # the band is where it belongs before anyone looks

    def refresh_upper(self) -> None:
        """The current screen's words in the upper display (low reach); new tiles compacted."""
        screen = self.current_screen
        if not self.upper.isVisible() or screen is None:
            return
        # Only the screen shown: this runs on every access tick (5 Hz); a screen shown later
        # is compacted when it comes (the stack's currentChanged refreshes).
        reach.compact(screen)
        lines = [w.text() for w in info_labels(screen)]
        if screen is self.camera:  # the seated customer is told where to look
            lines.insert(0, tr("a11y.seated", self.controller.language))
        text = "\n".join(lines)
        if text != self.upper.text():
            self.upper.setText(text)

    # -- events -----------------------------------------------------------------------------

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() in (QEvent.Type.MouseButtonPress, QEvent.Type.TouchBegin):
            self.controller.touch()
        elif event.type() == QEvent.Type.KeyPress and isinstance(event, QKeyEvent):
            return self._key(watched, event)
        return False

    def _key(self, watched: QObject, event: QKeyEvent) -> bool:
        """Keys instead of touch (:mod:`lockers.ui.access.keymap`); typing in a text field
        keeps its keys but for the moving ones."""
        if not isinstance(watched, QWidget) or watched.window() is not self:
            return False
        if isinstance(QApplication.focusWidget(), QLineEdit) and event.key() not in _FIELD_KEYS:
            return False
        return self.access.handle_key(event.key())

    def closeEvent(self, event: QCloseEvent) -> None:
        app = QApplication.instance()
        if app is not None:
            app.removeEventFilter(self)
        self.controller.shutdown()
        event.accept()
