"""Whether the kiosk can serve, and the periodic service jobs that keep it so.

:class:`HealthMonitor` holds the :class:`~lockers.ui.kiosk_state.KioskStatus` (model, camera,
board, services, start-up checks) and, on every tick of the UI loop, schedules on the service
thread: the health poll (board and lockers; faster while a door stands open), the housekeeping
(expired rentals' templates deleted while the kiosk runs) and, with a watchdog, a tiny job that
says the service thread still makes progress. Plain Python on the UI thread.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from lockers.ui.job_dispatch import JobResult
from lockers.ui.kiosk_state import KioskStatus
from lockers.ui.ports import KioskBackend, ProgressBeat, ServiceHealth
from lockers.ui.staff_controller import message_of

Submit = Callable[[str, Callable[[], Any]], int]

OPEN_DOOR_POLL_S = 0.5  # a door standing open is polled this often, to see it closed
SERVICE_BEAT_S = 1.0  # how often the service thread is asked to show it makes progress
HEALTH_JOBS = frozenset({"health", "housekeeping", "beat", "prepare"})


class HealthMonitor:
    """Args:
    backend: the services (called through ``submit`` only).
    submit: queues a named call on the service thread.
    publish: receives every changed :class:`KioskStatus`.
    log: one line per thing that happened.
    clock: monotonic seconds.
    interval_s: how often health is polled (:data:`OPEN_DOOR_POLL_S` while a door is open).
    housekeeping_interval_s: how often the housekeeping runs (``None``: never).
    watch: the watchdog's progress record, told ``service`` from the service thread.
    """

    def __init__(
        self,
        backend: KioskBackend,
        submit: Submit,
        publish: Callable[[KioskStatus], None],
        log: Callable[[str], None],
        clock: Callable[[], float],
        *,
        status: KioskStatus,
        interval_s: float,
        housekeeping_interval_s: float | None,
        watch: ProgressBeat | None = None,
    ) -> None:
        self._backend = backend
        self._submit = submit
        self._publish = publish
        self._log = log
        self._clock = clock
        self.status = status
        self._interval_s = interval_s
        self._housekeeping_s = housekeeping_interval_s
        self._watch = watch
        self.polled_at = -1e9  # when the last health poll was sent
        self._health_job = 0
        self._housekeeping_at = clock()  # the start-up check has just done it
        self._housekeeping_job = 0
        self._beat_at = -1e9
        self._beat_job = 0

    def set_status(self, **changes: object) -> None:
        status = replace(self.status, **changes)  # type: ignore[arg-type]
        if status != self.status:
            before = self.status
            self.status = status
            if before.problems != status.problems:
                self._log("status: " + (", ".join(status.problems) or "ready"))
            self._publish(status)

    # -- scheduling (UI thread) --------------------------------------------------------------

    def poll(self) -> None:
        """Ask for the board's and lockers' state now (one poll at a time)."""
        if self._health_job:
            return
        self.polled_at = self._clock()
        self._health_job = self._submit("health", self._backend.health)

    def tick(self, now: float, door_open: bool) -> None:
        """Schedule whatever periodic job is due."""
        interval = OPEN_DOOR_POLL_S if door_open else self._interval_s
        if now - self.polled_at >= interval:
            self.poll()
        every = self._housekeeping_s
        due = every is not None and now - self._housekeeping_at >= every
        if due and not self._housekeeping_job:
            self._housekeeping_at = now
            self._housekeeping_job = self._submit("housekeeping", self._backend.housekeeping)
        watch = self._watch
        if watch is not None and not self._beat_job and now - self._beat_at >= SERVICE_BEAT_S:
            # Answered only when the service thread gets to it: a hung call stops the beats.
            self._beat_at = now
            self._beat_job = self._submit("beat", lambda: watch.beat("service"))

    # -- results -----------------------------------------------------------------------------

    def on_job(self, result: JobResult) -> ServiceHealth | None:
        """A result of one of :data:`HEALTH_JOBS`; the fresh health, if any."""
        if result.kind == "prepare":
            # Not fatal: the first retrieve loads the templates itself (and reports failures).
            if result.ok:
                self._log(f"active rentals in memory: {result.value}")
            else:
                self._log(f"loading the active templates failed: {message_of(result.error)}")
        elif result.kind == "beat":
            self._beat_job = 0
        elif result.kind == "housekeeping":
            self._housekeeping_job = 0
            if result.ok:
                self._log(f"housekeeping: {result.value}")
            else:
                self._log(f"housekeeping failed: {message_of(result.error)}")
        elif result.kind == "health":
            self._health_job = 0
            if not result.ok:
                self.set_status(service_error=message_of(result.error) or "service error")
                return None
            self.set_status(service_error="", health=result.value)
            return result.value  # type: ignore[no-any-return]
        return None
