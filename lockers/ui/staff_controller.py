"""The staff screens' side of the controller: login, locker actions, the audit log, logout.

Plain Python on the UI thread: the service calls go through ``submit`` (the service runner),
their results come back through :meth:`StaffController.on_job`, and every change of
:class:`~lockers.ui.kiosk_state.StaffState` is handed to ``publish``. A session that the
service says has ended (:class:`~lockers.kiosk.errors.StaffSessionExpired`) ends here too.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from lockers.errors import LockersError
from lockers.kiosk.dto import StaffSession
from lockers.kiosk.errors import StaffAuthError, StaffSessionExpired
from lockers.ui.job_dispatch import JobResult
from lockers.ui.kiosk_state import StaffState
from lockers.ui.ports import KioskBackend, ServiceHealth

Submit = Callable[[str, Callable[[], Any]], int]


def message_of(error: BaseException | None) -> str:
    """What to show of an error: a LockersError's message, else its text."""
    if isinstance(error, LockersError):
        return error.message
    return str(error) if error is not None else ""


class StaffController:
    """Args:
    backend: the services (called through ``submit`` only).
    submit: queues a named call on the service thread.
    publish: receives every new :class:`StaffState`.
    log: one line per thing that happened.
    clock: monotonic seconds.
    idle_s: staff screens log out after this long without a touch.
    """

    def __init__(
        self,
        backend: KioskBackend,
        submit: Submit,
        publish: Callable[[StaffState], None],
        log: Callable[[str], None],
        clock: Callable[[], float],
        idle_s: float,
    ) -> None:
        self._backend = backend
        self._submit = submit
        self._publish = publish
        self._log = log
        self._clock = clock
        self._idle_s = idle_s
        self.state = StaffState()
        self.touched_at = clock()
        self._factor = 1.0  # accessibility mode's time_factor
        self._warned = False

    def _set(self, **changes: object) -> None:
        self.state = replace(self.state, **changes)  # type: ignore[arg-type]
        self._publish(self.state)

    def _logged_out(self, message: str) -> None:
        self.state = StaffState(message=message, directory=self.state.directory)
        self._publish(self.state)

    def touch(self) -> None:
        self.touched_at = self._clock()

    # -- actions (UI thread) -----------------------------------------------------------------

    def login(self, name: str, pin: str) -> None:
        self.touch()
        self._set(busy=True, message="")
        backend = self._backend
        self._submit("staff_login", lambda: backend.staff_login(name, pin))

    def directory(self) -> None:
        self._submit("staff_directory", self._backend.staff_directory)

    def refresh(self) -> None:
        who = self.state.session
        if who is None:
            return
        self.touch()
        backend = self._backend
        self._submit("staff_lockers", lambda: backend.staff_lockers(who))

    def action(self, action: str, label: str, reason: str) -> None:
        who = self.state.session
        if who is None:
            return
        self.touch()
        self._set(busy=True)
        backend = self._backend
        self._submit("staff_action", lambda: backend.staff_action(who, action, label, reason))

    def audit(self, action: str | None = None, locker: str | None = None) -> None:
        who = self.state.session
        if who is None:
            return
        self.touch()
        backend = self._backend
        self._submit("staff_audit", lambda: backend.staff_audit(who, action, locker, 200))

    def logout(self, reason: str = "logout") -> None:
        who = self.state.session
        if who is None:
            return
        backend = self._backend
        self._submit("staff_logout", lambda: backend.staff_logout(who, reason))
        self._log(f"staff logout: {reason}")
        self._logged_out("staff.logged_out")

    def set_pace(self, time_factor: float) -> None:
        """Accessibility mode: the idle logout waits ``time_factor`` times longer."""
        self._factor = time_factor

    def time_left_s(self, now: float) -> float | None:
        """Seconds before the idle logout (``None``: nobody is logged in)."""
        if self.state.session is None:
            return None
        return self._idle_s * self._factor - (now - self.touched_at)

    def warn_if_near(self, now: float, warn_before_s: float) -> bool:
        """Whether the idle logout is within ``warn_before_s``; where it is nearer, it moves
        so that it comes ``warn_before_s`` after the first warning, never sooner."""
        left = self.time_left_s(now)
        if left is None or left > warn_before_s:
            self._warned = False
            return False
        if not self._warned:
            self._warned = True
            self.touched_at += warn_before_s - left
        return True

    def expire_if_idle(self, now: float) -> None:
        if self.state.session is not None and now - self.touched_at > self._idle_s * self._factor:
            self.logout("auto-logout after inactivity")

    def on_health(self, health: ServiceHealth) -> None:
        """Live alerts and doors for a logged-in staff member."""
        state = self.state
        if state.session is not None and (
            health.alerts != state.alerts or dict(health.doors) != dict(state.doors)
        ):
            self._set(alerts=health.alerts, doors=dict(health.doors))

    # -- results -----------------------------------------------------------------------------

    def on_job(self, result: JobResult, doors: dict[str, str]) -> None:
        """A ``staff_*`` job's result; ``doors``: the last live door readings (for a login)."""
        kind = result.kind
        if kind == "staff_logout":
            return
        if not result.ok:
            self._refused(kind, result.error)
        elif kind == "staff_directory":
            self._set(directory=tuple(result.value))
        elif kind == "staff_login":
            who: StaffSession = result.value
            self._log(f"staff login: {who.staff_name}")
            self.touch()
            self._set(session=who, busy=False, message="", locked_for_s=0.0, doors=doors)
            self.refresh()
            self.audit()
        elif kind == "staff_lockers":
            self._set(lockers=tuple(result.value))
        elif kind == "staff_audit":
            self._set(audit=tuple(result.value))
        elif kind == "staff_action":
            done = result.value
            message = f"{done.action} {done.locker_label}: {done.outcome} {done.detail}".strip()
            self._log(f"staff action {message}")
            self._set(busy=False, message=message)
            self.refresh()
            self.audit()

    def _refused(self, kind: str, error: BaseException | None) -> None:
        message = message_of(error)
        self._log(f"{kind} refused: {message}")
        if kind == "staff_login":
            retry = error.retry_after_s if isinstance(error, StaffAuthError) else 0.0
            self._set(busy=False, message=message, locked_for_s=retry)
        elif kind == "staff_directory":
            self._log(f"staff list not loaded: {message}")
        elif isinstance(error, StaffSessionExpired):
            self._logged_out(message)
        else:
            self._set(busy=False, message=message)
