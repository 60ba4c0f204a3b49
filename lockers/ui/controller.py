"""The view model: one ``QObject`` between the screens and the kiosk (flow, services, camera).

Screens call the slots (button presses) and draw what the signals carry: immutable
:class:`~lockers.kiosk.flow.FlowView`, :class:`KioskStatus`, :class:`StaffState` and camera
:class:`~lockers.ui.camera_worker.FramePacket` values. Nothing here blocks: the camera and the
model run in the camera worker's thread, the services in the service runner's thread.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QTimer, Signal, Slot

from lockers.errors import LockersError
from lockers.kiosk.dto import (
    LockerView,
    RegisterResult,
    RetrieveResult,
    StaffEntry,
    StaffSession,
)
from lockers.kiosk.flow import (
    Command,
    EmbedRequest,
    FlowSettings,
    FlowView,
    KioskFlow,
    Phase,
    RegisterRequest,
    RetrieveRequest,
)
from lockers.ui.camera_worker import CameraThread, CameraWorker, FramePacket, ModelInfo
from lockers.ui.i18n import LANGUAGES
from lockers.ui.ports import AuditRow, KioskBackend, ServiceHealth
from lockers.ui.qt_compat import emit
from lockers.ui.service_runner import JobResult, ServiceRunner

if TYPE_CHECKING:
    from lockers.vision.camera import FrameSource
    from lockers.vision.pipeline import FacePipeline

log = logging.getLogger(__name__)

ANALYSING_PHASES = frozenset({Phase.CAPTURE, Phase.LIVENESS, Phase.RETRIEVE_SCAN})
OPEN_PHASES = frozenset({Phase.REGISTER_OPEN, Phase.RETRIEVE_OPEN})


@dataclass(frozen=True)
class KioskStatus:
    """Whether the kiosk can serve customers, and why not.

    ``model``: ``loading`` | ``ready`` | ``failed``; ``camera_ok``: ``None`` until the camera
    has been opened once.
    """

    model: str = "loading"
    model_detail: str = ""
    model_version: str = ""
    camera_ok: bool | None = None
    camera_detail: str = ""
    health: ServiceHealth | None = None
    service_error: str = ""  # the last health poll failed (database unreachable, ...)
    untrained: bool = False
    notices: tuple[str, ...] = ()
    # Failed start-up checks (`lockers doctor`'s, "name: what → fix"): staff must fix them.
    failed_checks: tuple[str, ...] = ()

    @property
    def problems(self) -> tuple[str, ...]:
        """i18n keys of what keeps the kiosk out of order (empty when it can serve)."""
        keys: list[str] = []
        if self.model == "failed":
            keys.append("ooo.model")
        elif self.model == "loading":
            keys.append("ooo.loading")
        if self.camera_ok is False:
            keys.append("ooo.camera")
        if self.health is not None and not self.health.board_ok:
            keys.append("ooo.board")
        if self.service_error:
            keys.append("ooo.service")
        if self.failed_checks:
            keys.append("ooo.checks")
        return tuple(keys)

    @property
    def out_of_order(self) -> bool:
        """Loading is not "out of order": the home screen says "starting up" instead."""
        return any(key != "ooo.loading" for key in self.problems)

    @property
    def ready(self) -> bool:
        return not self.problems and self.camera_ok is True


@dataclass(frozen=True)
class StaffState:
    """The staff screens' data. ``session`` is ``None`` when nobody is logged in."""

    session: StaffSession | None = None
    lockers: tuple[LockerView, ...] = ()
    audit: tuple[AuditRow, ...] = ()
    message: str = ""  # the last action's outcome or error, for the staff to read
    locked_for_s: float = 0.0
    busy: bool = False
    alerts: tuple[str, ...] = field(default_factory=tuple)
    doors: Mapping[str, str] = field(default_factory=dict)  # live: label → open/closed/unknown
    directory: tuple[StaffEntry, ...] = ()  # the login screen's name tiles


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
    ) -> None:
        super().__init__()
        self.backend = backend
        self.flow = KioskFlow(flow_settings)
        self._clock = clock
        self.default_language = language if language in LANGUAGES else "ko"
        self.language = self.default_language
        self.status = KioskStatus(
            untrained=untrained, notices=tuple(notices), failed_checks=tuple(failed_checks)
        )
        self.staff = StaffState()
        self._staff_touch = 0.0
        self._last_touch = self._phase_changed = clock()
        self._staff_idle_s = staff_idle_s
        self._health_interval_s = health_interval_s
        self._health_job = 0
        self._last_health = -1e9
        self._pending_flow_job = 0
        self.runner = ServiceRunner(self)
        self.runner.finished.connect(self._on_job)
        self.worker = CameraWorker(pipeline_factory, camera_factory)
        self.camera = CameraThread(self.worker, owner=self)
        self.worker.model_ready.connect(self._on_model_ready)
        self.worker.model_failed.connect(self._on_model_failed)
        self.worker.camera_online.connect(self._on_camera_online)
        self.worker.camera_offline.connect(self._on_camera_offline)
        self.worker.frame_ready.connect(self._on_frame)
        self.worker.faces_embedded.connect(self._on_faces_embedded)
        self.worker.embed_failed.connect(self._on_embed_failed)
        self._timer = QTimer(self)
        self._timer.setInterval(tick_ms)
        self._timer.timeout.connect(self._tick)
        self._started = False
        self._shut = False

    # -- life cycle --------------------------------------------------------------------------

    def start(self) -> None:
        if self._started:
            return
        self._started = True
        self.camera.start()
        self._timer.start()
        self._poll_health()
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
            self.runner.submit("staff_logout", lambda: self.backend.staff_logout(who, "shutdown"))
        if not self.camera.stop():
            log.warning("the camera thread did not stop in time")
        self.runner.stop()

    # -- customer actions (UI thread) --------------------------------------------------------

    def _now(self) -> float:
        return self._clock()

    @Slot()
    def touch(self) -> None:
        now = self._now()
        self.flow.touch(now)
        self._staff_touch = self._last_touch = now

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

    # -- flow plumbing -----------------------------------------------------------------------

    def _apply(self, view: FlowView, command: Command | None = None) -> None:
        previous = getattr(self, "_last_view", None)
        self._last_view = view
        self.worker.set_analysing(view.phase in ANALYSING_PHASES)
        # Frames the decision does not need are only detected and gated, never embedded.
        self.worker.set_embedding(self.flow.wants_embedding(self._now()))
        if command is not None:
            self._run(command)
        if previous is None or previous.phase is not view.phase:
            self._phase_changed = self._now()
            emit(self.log_line, f"phase {view.phase.value}" + _describe(view))
            if view.phase in OPEN_PHASES:
                self._poll_health()
        if view != previous:
            emit(self.view_changed, view)

    def _run(self, command: Command) -> None:
        model_version = self.status.model_version
        backend = self.backend
        if isinstance(command, EmbedRequest):
            # The model lives in the camera worker's thread, never on the UI thread.
            emit(self.log_line, f"capture: embedding the {len(command.faces)} best frames")
            self.worker.embed_faces(command.job, command.faces)
        elif isinstance(command, RegisterRequest):
            emit(self.log_line, f"register: {len(command.templates)} templates")
            templates, qualities, pad = command.templates, command.qualities, command.pad
            self._pending_flow_job = self.runner.submit(
                "register", lambda: backend.register(templates, qualities, model_version, pad=pad)
            )
        elif isinstance(command, RetrieveRequest):
            final = command.final
            emit(
                self.log_line,
                f"retrieve: {len(command.probes)} frames" + ("" if final else " (early look)"),
            )
            probes, pad = command.probes, command.pad
            self._pending_flow_job = self.runner.submit(
                "retrieve", lambda: backend.retrieve(probes, model_version, pad=pad, final=final)
            )

    @Slot(object)
    def _on_frame(self, packet: FramePacket) -> None:
        if self._shut:
            return
        emit(self.frame_ready, packet)
        if packet.observation is None or self.flow.phase not in ANALYSING_PHASES:
            return
        command = self.flow.frame(packet.observation, self._now())
        self._apply(self.flow.view, command)

    @Slot(int, object)
    def _on_faces_embedded(self, job: int, embeddings: object) -> None:
        if self._shut:
            return
        command = self.flow.faces_embedded(job, embeddings, self._now())  # type: ignore[arg-type]
        self._apply(self.flow.view, command)

    @Slot(int, str)
    def _on_embed_failed(self, job: int, message: str) -> None:
        if self._shut:
            return
        emit(self.log_line, f"embedding failed: {message}")
        self._apply(self.flow.faces_failed(job, message, self._now()))

    @Slot()
    def _tick(self) -> None:
        now = self._now()
        self._apply(self.flow.tick(now))
        idle_s = now - max(self._last_touch, self._phase_changed)
        if (
            self.flow.phase is Phase.HOME
            and self.language != self.default_language
            and idle_s > self.flow.settings.idle_timeout_s
        ):
            # Nobody is using it: the next customer gets the configured language.
            self.set_language(self.default_language)
        if self.staff.session is not None and now - self._staff_touch > self._staff_idle_s:
            self.staff_logout("auto-logout after inactivity")
        interval = 0.5 if self.flow.phase in OPEN_PHASES else self._health_interval_s
        if now - self._last_health >= interval:
            self._poll_health()

    def _poll_health(self) -> None:
        if self._health_job or self._shut:
            return
        self._last_health = self._now()
        self._health_job = self.runner.submit("health", self.backend.health)

    @Slot(object)
    def _on_job(self, result: JobResult) -> None:
        if self._shut:
            return
        now = self._now()
        if result.kind == "health":
            self._health_job = 0
            if result.ok:
                self._set_status(service_error="")
                self._on_health(result.value)
            else:
                self._set_status(service_error=_message(result.error) or "service error")
        elif result.kind in ("register", "retrieve"):
            self._pending_flow_job = 0
            if not result.ok:
                emit(self.log_line, f"{result.kind} failed: {_message(result.error)}")
                self._apply(self.flow.service_failed(_message(result.error), now))
            elif isinstance(result.value, RegisterResult):
                emit(
                    self.log_line,
                    f"register result: {result.value.outcome.value} "
                    f"locker {result.value.locker_label}",
                )
                self._apply(self.flow.register_done(result.value, now))
                self._poll_health()
            elif isinstance(result.value, RetrieveResult):
                score = result.value.score
                emit(
                    self.log_line,
                    f"retrieve result: {result.value.outcome.value} "
                    f"locker {result.value.locker_label}"
                    + ("" if score is None else f" score {score:.3f}"),
                )
                self._apply(self.flow.retrieve_done(result.value, now))
                self._poll_health()
        elif result.kind == "prepare":
            # Not fatal: the first retrieve loads the templates itself (and reports failures).
            if not result.ok:
                failure = _message(result.error)
                emit(self.log_line, f"loading the active templates failed: {failure}")
            else:
                emit(self.log_line, f"active rentals in memory: {result.value}")
        elif result.kind.startswith("staff"):
            self._on_staff_job(result)

    def _on_health(self, health: ServiceHealth) -> None:
        self._set_status(health=health)
        view = self.flow.view
        # Readings from a poll that started before the door was opened say nothing about it.
        fresh = self._last_health >= self._phase_changed
        # Open phases start only after the board saw this door open, so "closed" now means the
        # customer shut it (a poll may well miss the moment it stood open).
        if (
            view.phase in OPEN_PHASES
            and view.locker_label is not None
            and fresh
            and health.doors.get(view.locker_label) == "closed"
        ):
            emit(self.log_line, f"door {view.locker_label} closed")
            self._apply(self.flow.door_closed(view.locker_label, self._now()))
        staff = self.staff
        if staff.session is not None and (
            health.alerts != staff.alerts or dict(health.doors) != dict(staff.doors)
        ):
            self._set_staff(alerts=health.alerts, doors=dict(health.doors))

    def _set_status(self, **changes: object) -> None:
        status = replace(self.status, **changes)  # type: ignore[arg-type]
        if status != self.status:
            before = self.status
            self.status = status
            if before.problems != status.problems:
                emit(self.log_line, "status: " + (", ".join(status.problems) or "ready"))
            emit(self.status_changed, status)

    @Slot(object)
    def _on_model_ready(self, info: ModelInfo) -> None:
        emit(
            self.log_line,
            f"model ready: {info.model_version} ({info.backend}, {info.load_s:.1f} s)",
        )
        self._set_status(model="ready", model_version=info.model_version, model_detail="")
        # The active rentals' templates, decrypted once now rather than for the first customer.
        backend, version = self.backend, info.model_version
        self.runner.submit("prepare", lambda: backend.prepare(version))

    @Slot(str, str)
    def _on_model_failed(self, message: str, hint: str) -> None:
        emit(self.log_line, f"model failed: {message}")
        self._set_status(model="failed", model_detail=f"{message} {hint}".strip())

    @Slot(str)
    def _on_camera_online(self, name: str) -> None:
        self._set_status(camera_ok=True, camera_detail=name)

    @Slot(str)
    def _on_camera_offline(self, message: str) -> None:
        self._set_status(camera_ok=False, camera_detail=message)
        if self.flow.phase in ANALYSING_PHASES:
            self._apply(self.flow.home(self._now()))

    # -- staff -------------------------------------------------------------------------------

    def _set_staff(self, **changes: object) -> None:
        self.staff = replace(self.staff, **changes)  # type: ignore[arg-type]
        emit(self.staff_changed, self.staff)

    @Slot(str, str)
    def staff_login(self, name: str, pin: str) -> None:
        self._staff_touch = self._now()
        self._apply(self.flow.home(self._now()))
        self._set_staff(busy=True, message="")
        backend = self.backend
        self.runner.submit("staff_login", lambda: backend.staff_login(name, pin))

    @Slot()
    def staff_directory(self) -> None:
        """Reload the login screen's name tiles (staff added from the CLI show up)."""
        if self._shut:
            return
        backend = self.backend
        self.runner.submit("staff_directory", backend.staff_directory)

    @Slot()
    def staff_refresh(self) -> None:
        who = self.staff.session
        if who is None:
            return
        self._staff_touch = self._now()
        backend = self.backend
        self.runner.submit("staff_lockers", lambda: backend.staff_lockers(who))

    @Slot(str, str, str)
    def staff_action(self, action: str, label: str, reason: str) -> None:
        who = self.staff.session
        if who is None:
            return
        self._staff_touch = self._now()
        self._set_staff(busy=True)
        backend = self.backend
        self.runner.submit("staff_action", lambda: backend.staff_action(who, action, label, reason))

    def staff_audit(self, action: str | None = None, locker: str | None = None) -> None:
        who = self.staff.session
        if who is None:
            return
        self._staff_touch = self._now()
        backend = self.backend
        self.runner.submit("staff_audit", lambda: backend.staff_audit(who, action, locker, 200))

    @Slot()
    def staff_logout(self, reason: str = "logout") -> None:
        who = self.staff.session
        if who is None:
            return
        backend = self.backend
        self.runner.submit("staff_logout", lambda: backend.staff_logout(who, reason))
        emit(self.log_line, f"staff logout: {reason}")
        self.staff = StaffState(message="staff.logged_out", directory=self.staff.directory)
        emit(self.staff_changed, self.staff)

    def _on_staff_job(self, result: JobResult) -> None:
        kind = result.kind
        if kind == "staff_logout":
            return
        if not result.ok:
            error = result.error
            retry = float(getattr(error, "retry_after_s", 0.0) or 0.0)
            message = _message(error)
            emit(self.log_line, f"{kind} refused: {message}")
            if kind == "staff_login":
                self._set_staff(busy=False, message=message, locked_for_s=retry)
            elif kind == "staff_directory":
                log.warning("staff list not loaded: %s", message)
            elif "logged" in message or "not logged in" in message:
                self.staff = StaffState(message=message, directory=self.staff.directory)
                emit(self.staff_changed, self.staff)
            else:
                self._set_staff(busy=False, message=message)
            return
        if kind == "staff_directory":
            self._set_staff(directory=tuple(result.value))
        elif kind == "staff_login":
            who: StaffSession = result.value
            emit(self.log_line, f"staff login: {who.staff_name}")
            self._staff_touch = self._now()
            doors = dict(self.status.health.doors) if self.status.health else {}
            self._set_staff(session=who, busy=False, message="", locked_for_s=0.0, doors=doors)
            self.staff_refresh()
            self.staff_audit()
        elif kind == "staff_lockers":
            self._set_staff(lockers=tuple(result.value))
        elif kind == "staff_audit":
            self._set_staff(audit=tuple(result.value))
        elif kind == "staff_action":
            done = result.value
            message = f"{done.action} {done.locker_label}: {done.outcome} {done.detail}".strip()
            emit(self.log_line, f"staff action {message}")
            self._set_staff(busy=False, message=message)
            self.staff_refresh()
            self.staff_audit()
            self._poll_health()


def _message(error: BaseException | None) -> str:
    if isinstance(error, LockersError):
        return error.message
    return str(error) if error is not None else ""


def _describe(view: FlowView) -> str:
    parts = []
    if view.locker_label:
        parts.append(f"locker {view.locker_label}")
    if view.problem is not None:
        parts.append(f"problem {view.problem.value}")
    if view.detail:
        parts.append(view.detail)
    return (": " + ", ".join(parts)) if parts else ""
