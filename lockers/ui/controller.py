"""The view model: one ``QObject`` between the screens and the kiosk (flow, services, camera).

Screens call the slots (button presses) and draw what the signals carry: immutable
:class:`~lockers.kiosk.flow.FlowView`, :class:`KioskStatus`, :class:`StaffState` and camera
:class:`~lockers.ui.camera_worker.FramePacket` values. Nothing here blocks: the camera and the
model run in the camera worker's thread, the services in the service runner's thread.

The rooms behind it, each plain Python: :class:`~lockers.ui.flow_bridge.FlowBridge` (the
customer flow and its commands), :class:`~lockers.ui.health_monitor.HealthMonitor` (the status
and the periodic service jobs), :class:`~lockers.ui.staff_controller.StaffController` (the staff
screens). This class wires them to Qt: signals, the timer, the two threads.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QTimer, Signal, Slot

from lockers.i18n import LANGUAGES
from lockers.kiosk.flow import FlowSettings, FlowView, KioskFlow, Phase
from lockers.kiosk.flow_values import ANALYSING_PHASES, OPEN_PHASES
from lockers.ui.camera_worker import CameraThread, CameraWorker, FramePacket, ModelInfo
from lockers.ui.flow_bridge import FLOW_JOBS, FlowBridge
from lockers.ui.health_monitor import HEALTH_JOBS, HealthMonitor
from lockers.ui.job_dispatch import JobResult
from lockers.ui.kiosk_state import KioskStatus, StaffState
from lockers.ui.ports import KioskBackend, ProgressBeat
from lockers.ui.qt_compat import emit
from lockers.ui.service_runner import ServiceRunner
from lockers.ui.staff_controller import StaffController

if TYPE_CHECKING:
    from lockers.vision.camera import FrameSource
    from lockers.vision.pipeline import FacePipeline

__all__ = ["ANALYSING_PHASES", "OPEN_PHASES", "KioskController", "KioskStatus", "StaffState"]

log = logging.getLogger(__name__)


class KioskController(QObject):
    """Owns the flow, the camera thread and the service runner.

    Args:
        backend: the services (called on the service thread only).
        pipeline_factory, camera_factory: see :class:`~lockers.ui.camera_worker.CameraWorker`.
        flow_settings: counts and timeouts of the flow.
        language: ``ko`` or ``en`` at start and after every idle return home.
        untrained, notices: the demo's labels (banner, output).
        failed_checks: start-up checks that failed (out of order until fixed and restarted).
        clock: monotonic seconds (the flow's time).
        health_interval_s: how often the board and lockers are polled (faster while a door is
            open, to see it closed).
        staff_idle_s: staff screens log out after this long without a touch.
        housekeeping_interval_s: how often the services' housekeeping runs (``None``: never).
        max_frame_failures: frame analyses failing in a row before the kiosk is out of order.
        watch: the watchdog's progress record (``None``: no watchdog); the UI loop, the camera
            worker and the service thread each beat it.
    """

    view_changed = Signal(object)  # FlowView
    status_changed = Signal(object)  # KioskStatus
    frame_ready = Signal(object)  # FramePacket
    language_changed = Signal(str)
    staff_changed = Signal(object)  # StaffState
    log_line = Signal(str)  # what happened, for the log and the scripted demo

    def __init__(
        self,
        backend: KioskBackend,
        pipeline_factory: Callable[[], FacePipeline],
        camera_factory: Callable[[], FrameSource],
        flow_settings: FlowSettings,
        *,
        language: str = "ko",
        untrained: bool = False,
        notices: tuple[str, ...] = (),
        failed_checks: tuple[str, ...] = (),
        clock: Callable[[], float] = time.monotonic,
        health_interval_s: float = 2.0,
        staff_idle_s: float = 90.0,
        tick_ms: int = 200,
        housekeeping_interval_s: float | None = 300.0,
        max_frame_failures: int = 5,
        watch: ProgressBeat | None = None,
    ) -> None:
        super().__init__()
        self.backend = backend
        self._clock = clock
        self._watch = watch
        self.default_language = language if language in LANGUAGES else "ko"
        self.language = self.default_language
        self._last_touch = clock()
        self.runner = ServiceRunner(self)
        self.runner.finished.connect(self._on_job)
        self.worker = CameraWorker(
            pipeline_factory, camera_factory, max_frame_failures=max_frame_failures, watch=watch
        )
        self.camera = CameraThread(self.worker, owner=self)
        self.health = HealthMonitor(
            backend,
            self.runner.submit,
            lambda status: emit(self.status_changed, status),
            self._say,
            clock,
            status=KioskStatus(
                untrained=untrained, notices=tuple(notices), failed_checks=tuple(failed_checks)
            ),
            interval_s=health_interval_s,
            housekeeping_interval_s=housekeeping_interval_s,
            watch=watch,
        )
        self.staff_room = StaffController(
            backend,
            self.runner.submit,
            lambda state: emit(self.staff_changed, state),
            self._say,
            clock,
            staff_idle_s,
        )
        self.bridge = self._flow_bridge(flow_settings)
        self._connect_worker()
        self._timer = QTimer(self)
        self._timer.setInterval(tick_ms)
        self._timer.timeout.connect(self._tick)
        self._started = False
        self._shut = False

    def _flow_bridge(self, flow_settings: FlowSettings) -> FlowBridge:
        return FlowBridge(
            KioskFlow(flow_settings),
            self.worker,
            self.backend,
            self.runner.submit,
            lambda view: emit(self.view_changed, view),
            self._say,
            self._clock,
            lambda: self.status.model_version,
            self.health.poll,
        )

    def _connect_worker(self) -> None:
        w = self.worker
        w.model_ready.connect(self._on_model_ready)
        w.model_failed.connect(self._on_model_failed)
        w.camera_online.connect(self._on_camera_online)
        w.camera_offline.connect(self._on_camera_offline)
        w.analysis_failing.connect(self._on_analysis_failing)
        w.analysis_recovered.connect(self._on_analysis_recovered)
        w.frame_ready.connect(self._on_frame)
        w.faces_embedded.connect(self._on_faces_embedded)
        w.embed_failed.connect(self._on_embed_failed)

    # -- what the screens read ---------------------------------------------------------------

    @property
    def flow(self) -> KioskFlow:
        return self.bridge.flow

    @property
    def status(self) -> KioskStatus:
        return self.health.status

    @property
    def staff(self) -> StaffState:
        return self.staff_room.state

    @property
    def door_call_running(self) -> bool:
        """A register or retrieve call (it may open a door) has not answered yet."""
        return self.flow.door_call_running

    # -- life cycle --------------------------------------------------------------------------

    def start(self) -> None:
        if self._started:
            return
        self._started = True
        self.camera.start()
        self._timer.start()
        self.health.poll()
        self.staff_directory()
        emit(self.view_changed, self.flow.view)
        emit(self.status_changed, self.status)

    def shutdown(self) -> None:
        """Stop timers, the camera thread and the service thread (waits for a running unlock)."""
        if self._shut:
            return
        self._shut = True
        self._timer.stop()
        self.flow.home(self._clock())
        who = self.staff.session
        if who is not None:
            backend = self.backend
            self.runner.submit("staff_logout", lambda: backend.staff_logout(who, "shutdown"))
        if not self.camera.stop():
            log.warning("the camera thread did not stop in time")
        self.runner.stop()

    # -- customer actions (UI thread) --------------------------------------------------------

    def _now(self) -> float:
        return self._clock()

    def _say(self, line: str) -> None:
        emit(self.log_line, line)

    def _apply(self, view: FlowView) -> None:
        # A timeout or a way home may have produced a command (a failed head move to report).
        self.bridge.apply(view, self.flow.take_command())

    @Slot()
    def touch(self) -> None:
        now = self._now()
        self.flow.touch(now)
        self.staff_room.touch()
        self._last_touch = now

    @Slot()
    def register(self) -> None:
        if not self.status.ready:
            emit(self.log_line, "register refused: kiosk not ready")
            return
        self._apply(self.flow.start_register(self._now()))

    def consent(self, accepted: bool) -> None:
        self._apply(self.flow.consent(accepted, self._now()))

    @Slot()
    def consent_given(self) -> None:
        self.consent(True)

    @Slot()
    def consent_refused(self) -> None:
        self.consent(False)

    @Slot()
    def retrieve(self) -> None:
        if not self.status.ready:
            emit(self.log_line, "retrieve refused: kiosk not ready")
            return
        self._apply(self.flow.start_retrieve(self._now()))

    @Slot()
    def cancel(self) -> None:
        self._apply(self.flow.cancel(self._now()))

    @Slot()
    def retry(self) -> None:
        self._apply(self.flow.retry(self._now()))

    @Slot()
    def finish(self) -> None:
        self._apply(self.flow.finish(self._now()))

    @Slot(str)
    def set_language(self, language: str) -> None:
        if language in LANGUAGES and language != self.language:
            self.language = language
            emit(self.language_changed, language)

    @Slot()
    def toggle_language(self) -> None:
        self.set_language("en" if self.language == "ko" else "ko")

    # -- the UI loop -------------------------------------------------------------------------

    @Slot()
    def _tick(self) -> None:
        now = self._now()
        if self._watch is not None:
            self._watch.beat("ui")
        self._apply(self.flow.tick(now))
        idle_s = now - max(self._last_touch, self.bridge.phase_changed_at)
        if (
            self.flow.phase is Phase.HOME
            and self.language != self.default_language
            and idle_s > self.flow.settings.idle_timeout_s
        ):
            # Nobody is using it: the next customer gets the configured language.
            self.set_language(self.default_language)
        self.staff_room.expire_if_idle(now)
        self.health.tick(now, door_open=self.flow.phase in OPEN_PHASES)

    # -- from the threads --------------------------------------------------------------------

    @Slot(object)
    def _on_frame(self, packet: FramePacket) -> None:
        if self._shut:
            return
        emit(self.frame_ready, packet)
        self.bridge.frame(packet)

    @Slot(int, object)
    def _on_faces_embedded(self, job: int, embeddings: object) -> None:
        if not self._shut:
            self.bridge.faces_embedded(job, embeddings)  # type: ignore[arg-type]

    @Slot(int, str)
    def _on_embed_failed(self, job: int, message: str) -> None:
        if not self._shut:
            self.bridge.embed_failed(job, message)

    @Slot(object)
    def _on_job(self, result: JobResult) -> None:
        if self._shut:
            return
        kind = result.kind
        if kind in FLOW_JOBS:
            self.bridge.on_job(result)
            if result.ok:
                self.health.poll()
        elif kind in HEALTH_JOBS:
            health = self.health.on_job(result)
            if health is not None:
                fresh = self.health.polled_at >= self.bridge.phase_changed_at
                self.bridge.door_reading(health, fresh)
                self.staff_room.on_health(health)
        elif kind.startswith("staff"):
            health = self.status.health
            self.staff_room.on_job(result, dict(health.doors) if health else {})
            if kind == "staff_action" and result.ok:
                self.health.poll()

    @Slot(object)
    def _on_model_ready(self, info: ModelInfo) -> None:
        emit(
            self.log_line,
            f"model ready: {info.model_version} ({info.backend}, {info.load_s:.1f} s)",
        )
        self.health.set_status(model="ready", model_version=info.model_version, model_detail="")
        # The active rentals' templates, decrypted once now rather than for the first customer.
        backend, version = self.backend, info.model_version
        self.runner.submit("prepare", lambda: backend.prepare(version))

    @Slot(str, str)
    def _on_model_failed(self, message: str, hint: str) -> None:
        emit(self.log_line, f"model failed: {message}")
        self.health.set_status(model="failed", model_detail=f"{message} {hint}".strip())

    @Slot(str)
    def _on_analysis_failing(self, message: str) -> None:
        emit(self.log_line, f"model failing: {message}")
        self.health.set_status(analysis_error=message)
        self._leave_analysing_screen()

    @Slot()
    def _on_analysis_recovered(self) -> None:
        emit(self.log_line, "model recovered: frames analyse again")
        self.health.set_status(analysis_error="")

    @Slot(str)
    def _on_camera_online(self, name: str) -> None:
        self.health.set_status(camera_ok=True, camera_detail=name)

    @Slot(str)
    def _on_camera_offline(self, message: str) -> None:
        self.health.set_status(camera_ok=False, camera_detail=message)
        self._leave_analysing_screen()

    def _leave_analysing_screen(self) -> None:
        if self.flow.phase in ANALYSING_PHASES:
            self._apply(self.flow.home(self._now()))

    # -- staff (the staff controller does the work) ------------------------------------------

    @Slot(str, str)
    def staff_login(self, name: str, pin: str) -> None:
        self._apply(self.flow.home(self._now()))
        self.staff_room.login(name, pin)

    @Slot()
    def staff_directory(self) -> None:
        """Reload the login screen's name tiles (staff added from the CLI show up)."""
        if not self._shut:
            self.staff_room.directory()

    @Slot()
    def staff_refresh(self) -> None:
        self.staff_room.refresh()

    @Slot(str, str, str)
    def staff_action(self, action: str, label: str, reason: str) -> None:
        self.staff_room.action(action, label, reason)

    def staff_audit(self, action: str | None = None, locker: str | None = None) -> None:
        self.staff_room.audit(action, locker)

    @Slot()
    def staff_logout(self, reason: str = "logout") -> None:
        self.staff_room.logout(reason)
