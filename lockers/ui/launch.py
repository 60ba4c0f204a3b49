"""Building and running the kiosk window; the scripted demo walk-through.

:func:`create_window` builds everything without running the event loop (tests and screenshots
use it); :func:`run_window` runs it until the window closes, SIGTERM or Ctrl+C, then shuts the
threads down cleanly.
"""

from __future__ import annotations

import logging
import signal
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtCore import (
    QMessageLogContext,
    QObject,
    QTimer,
    QtMsgType,
    Signal,
    qInstallMessageHandler,
)
from PySide6.QtWidgets import QApplication

from lockers.kiosk.flow import Phase
from lockers.ui.controller import KioskController
from lockers.ui.main_window import MainWindow
from lockers.ui.qt_compat import emit
from lockers.ui.voice_port import TranscriptVoice, Voice

if TYPE_CHECKING:
    from lockers.config import Settings
    from lockers.ui.ports import KioskSetup, ProgressBeat


def create_window(
    parts: KioskSetup,
    *,
    start: bool = True,
    staff_hold_ms: int = 2000,
    voice: Voice | None = None,
    **controller_options: object,
) -> tuple[MainWindow, KioskController]:
    """The controller and the main window for ``parts`` (a ``QApplication`` must exist).

    ``controller_options`` go to :class:`~lockers.ui.controller.KioskController` (tests poll
    faster); ``start=False`` builds without starting the camera (screenshots); ``voice``:
    what speaks in accessibility mode (default: the site's audio, see :func:`site_voice`).
    """
    options: dict[str, object] = {
        # The services' housekeeping while the kiosk runs (expiry of overdue rentals).
        "housekeeping_interval_s": parts.settings.privacy.housekeeping_interval_s,
        "max_frame_failures": parts.settings.ui.max_frame_failures,
        **controller_options,
    }
    controller = KioskController(
        parts.backend,
        parts.pipeline_factory,
        parts.camera_factory,
        parts.flow_settings,
        language=parts.settings.ui.language,
        untrained=parts.untrained,
        notices=tuple(parts.notices),
        failed_checks=tuple(getattr(parts, "failed_checks", ())),
        **options,  # type: ignore[arg-type]
    )
    window = MainWindow(
        controller,
        retention_hours=parts.settings.privacy.retention_hours,
        staff_hold_ms=staff_hold_ms,
        staff_reasons=parts.settings.ui.staff_reasons,
        audit_language=parts.settings.ui.language,
        accessibility=parts.settings.accessibility,
        voice=voice if voice is not None else site_voice(parts.settings),
    )
    # The window owns the controller (and so its threads' QThread objects): Qt deletes them in
    # order with the window, rather than Python's garbage collector at some later moment.
    controller.setParent(window)
    if start:
        controller.start()
    return window, controller


def site_voice(settings: Settings) -> Voice:
    """The prompts' audio player (:func:`lockers.ui.voice.create_voice`): silent, with the
    reason logged, without an audio output or with ``accessibility.voice: false``."""
    from lockers.ui.voice import create_voice

    return create_voice(settings)


log = logging.getLogger("lockers.ui")
# Harmless chatter of the headless (offscreen) platform plugin.
_QT_NOISE = ("propagateSizeHints",)


def _qt_message(kind: QtMsgType, _context: QMessageLogContext, message: str) -> None:
    """Qt's own warnings go to the log (the journal under systemd), not to bare stderr."""
    if any(noise in message for noise in _QT_NOISE):
        log.debug("qt: %s", message)
    elif kind in (QtMsgType.QtCriticalMsg, QtMsgType.QtFatalMsg):
        log.error("qt: %s", message)
    elif kind == QtMsgType.QtWarningMsg:
        log.warning("qt: %s", message)
    else:
        log.debug("qt: %s", message)


def application() -> QApplication:
    app = QApplication.instance()
    if isinstance(app, QApplication):
        return app
    return QApplication(sys.argv[:1])


def run_window(
    parts: KioskSetup,
    *,
    fullscreen: bool,
    on_event: Callable[[str], None] | None = None,
    script: bool = False,
    script_timeout_s: float = 120.0,
    watch: ProgressBeat | None = None,
    accessible: bool = False,
) -> int:
    """Show the kiosk and run until it is closed (or the script ends); returns an exit code.

    ``watch``: the systemd watchdog's progress record; the UI loop, the camera worker and the
    service thread beat it (``None``: no watchdog). ``accessible``: accessibility mode on from
    the start; with ``script`` the walk uses keys alone and the voice prints what it says."""
    qInstallMessageHandler(_qt_message)
    app = application()
    say = on_event or (lambda _line: None)
    voice = TranscriptVoice(say) if accessible and script else None
    window, controller = create_window(parts, watch=watch, voice=voice)
    if on_event is not None:
        controller.log_line.connect(on_event)
    # SIGTERM (systemd stop) and Ctrl+C end the event loop; shutdown then runs in order.
    previous = signal.signal(signal.SIGTERM, lambda *_: app.quit())
    previous_int = signal.signal(signal.SIGINT, lambda *_: app.quit())
    # Python runs signal handlers only between bytecodes: wake the interpreter regularly.
    wake = QTimer()
    wake.timeout.connect(lambda: None)
    wake.start(250)
    walker: DemoScript | None = None
    if accessible:
        window.access.start_on()
    if script and accessible:
        from lockers.ui.access.demo_walk import KeysDemoScript

        walker = KeysDemoScript(window, say, script_timeout_s)
    elif script:
        walker = DemoScript(controller, say, script_timeout_s)
    if walker is not None:
        walker.finished_with.connect(lambda _code: app.quit())
        walker.start()
    if fullscreen:
        window.showFullScreen()
    else:
        window.show()
    try:
        app.exec()
    except KeyboardInterrupt:
        pass
    finally:
        wake.stop()
        signal.signal(signal.SIGTERM, previous)
        signal.signal(signal.SIGINT, previous_int)
        window.close()  # stops the camera and service threads
        controller.shutdown()
        window.deleteLater()
        qInstallMessageHandler(None)
    return 0 if walker is None else walker.exit_code


class DemoScript(QObject):
    """Walks register → retrieve through the real controller, as a user would, for smoke tests.

    Steps: wait until the kiosk is ready, press Register, agree, wait for the locker to open and
    the (emulated) door to close, then press Retrieve and wait for the same locker to open.
    ``exit_code`` is 0 when the retrieve opened the locker the register gave.
    """

    finished_with = Signal(int)

    def __init__(
        self, controller: KioskController, say: Callable[[str], None], timeout_s: float
    ) -> None:
        super().__init__()
        self.controller = controller
        self.say = say
        self.exit_code = 1
        self.step = "wait_ready"
        self.registered: str | None = None
        self.retrieved: str | None = None
        self._timer = QTimer(self)
        self._timer.setInterval(100)
        self._timer.timeout.connect(self._poll)
        self._deadline = QTimer(self)
        self._deadline.setSingleShot(True)
        self._deadline.setInterval(int(timeout_s * 1000))
        self._deadline.timeout.connect(lambda: self._end(f"timed out at step {self.step}", 1))

    def start(self) -> None:
        self._timer.start()
        self._deadline.start()

    def _end(self, message: str, code: int) -> None:
        if self.step == "ended":
            return
        self.step = "ended"
        self._timer.stop()
        self._deadline.stop()
        self.exit_code = code
        self.say(("script passed: " if code == 0 else "script FAILED: ") + message)
        emit(self.finished_with, code)

    def _poll(self) -> None:
        c = self.controller
        view = c.flow.view
        if c.status.model == "failed":
            self._end(f"the face model failed: {c.status.model_detail}", 1)
        elif self.step == "wait_ready" and c.status.ready and c.status.health is not None:
            self.say("script: pressing Register, agreeing to the consent")
            c.register()
            c.consent(True)
            self.step = "registering"
        elif self.step == "registering":
            if view.phase is Phase.REGISTER_OPEN:
                self.registered = view.locker_label
                self.say(f"script: locker {self.registered} opened; waiting for its door to close")
                self.step = "door"
            elif view.phase is Phase.FAILED:
                self._end(f"register failed: {view.problem} {view.detail}", 1)
        elif self.step == "door" and view.phase is not Phase.REGISTER_OPEN:
            c.cancel()
            self.say("script: pressing Retrieve")
            c.retrieve()
            self.step = "retrieving"
        elif self.step == "retrieving":
            if view.phase is Phase.RETRIEVE_OPEN:
                self.retrieved = view.locker_label
                same = self.retrieved == self.registered
                self.step = "door2"
                if not same:
                    self._end(f"retrieve opened {self.retrieved}, not {self.registered}", 1)
            elif view.phase in (Phase.FAILED, Phase.NOT_RECOGNISED):
                self._end(f"retrieve failed: {view.phase.value} {view.problem or ''}", 1)
        elif self.step == "door2" and view.phase is not Phase.RETRIEVE_OPEN:
            c.cancel()
            self._end(
                f"registered and retrieved locker {self.registered}; rental ended, "
                "face template deleted",
                0,
            )
