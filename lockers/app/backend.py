""":class:`ServicesBackend`: the kiosk window's port onto the services, the store and the board."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from lockers.errors import LockersError

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from lockers.app.site import SiteThread
    from lockers.hardware.board import DoorEvent, LockBoard
    from lockers.kiosk.assistance import AssistanceRequest
    from lockers.kiosk.dto import (
        LockerView,
        RegisterResult,
        RetrieveResult,
        StaffActionResult,
        StaffEntry,
        StaffSession,
    )
    from lockers.kiosk.liveness_tiers import ChallengeProof
    from lockers.kiosk.rental_service import RentalService
    from lockers.kiosk.staff_service import StaffService
    from lockers.kiosk.startup import Store
    from lockers.ui.ports import AuditRow, ServiceHealth
    from lockers.vision.pad import PadVerdict

log = logging.getLogger(__name__)


class ServicesBackend:
    """:class:`lockers.ui.ports.KioskBackend` over the kiosk services, the store and the board.

    Called from one thread (the controller's service thread).
    """

    def __init__(
        self,
        store: Store,
        board: LockBoard,
        rental: RentalService,
        staff: StaffService,
        *,
        closers: list[Callable[[], None]] | None = None,
        site: SiteThread | None = None,
    ) -> None:
        self.site = site
        self.store = store
        self.board = board
        self.rental = rental
        self.staff = staff
        self._closers = closers or []
        self._closed = False
        from lockers.kiosk.assistance import AssistanceService

        self.assistance = AssistanceService(store.database, rental.kiosk_id)

    def register(
        self,
        templates: npt.NDArray[np.float32],
        qualities: npt.NDArray[np.float32],
        model_version: str,
        pad: PadVerdict | None = None,
        challenge: ChallengeProof | None = None,
    ) -> RegisterResult:
        return self.rental.register(
            templates,
            consent=True,
            model_version=model_version,
            quality=qualities,
            pad=pad,
            challenge=challenge,
        )

    def retrieve(
        self,
        probes: npt.NDArray[np.float32],
        model_version: str,
        pad: PadVerdict | None = None,
        final: bool = True,
        challenge: ChallengeProof | None = None,
    ) -> RetrieveResult:
        from lockers.kiosk.dto import RetrieveOutcome

        started = time.monotonic()
        result = self.rental.retrieve(
            probes, model_version=model_version, pad=pad, final=final, challenge=challenge
        )
        if self.site is not None and result.outcome is not RetrieveOutcome.UNDECIDED:
            # The kiosk's recognition latency for the site's /metrics: probes in → decision
            # (an early look that did not decide is not a decision).
            self.site.agent.presence.recognition_latency.observe(time.monotonic() - started)
        return result

    def prepare(self, model_version: str) -> int:
        if self.site is not None:  # the site sees which model this kiosk runs
            self.site.beat(model_version=model_version)
        return self.rental.prepare(model_version)

    def housekeeping(self) -> object:
        return self.rental.housekeeping()

    def health(self) -> ServiceHealth:
        from lockers.hardware.board import DoorState, LockAddress
        from lockers.kiosk.staff_service import list_lockers
        from lockers.store.models import utcnow
        from lockers.ui.ports import ServiceHealth

        kiosk_id = self.rental.kiosk_id
        views = list_lockers(self.store.database, utcnow(), kiosk_id)  # this kiosk's bank only
        try:
            states = self.board.door_states()
            events = self.board.poll_events()
            board_ok = self.board.healthy()
            detail = "" if board_ok else "the lock board does not answer"
        except LockersError as exc:
            states, events, board_ok, detail = {}, [], False, exc.message
        if self.site is not None and self.site.problem:  # must not drive this bank any more
            board_ok, detail = False, self.site.problem
        doors = {
            v.label: states.get(LockAddress(v.board, v.channel), DoorState.UNKNOWN).value
            for v in views
        }
        self._record_doors(views, doors, events)
        alerts = [f"{e.kind.value} board {e.address.board} ch {e.address.channel}" for e in events]
        alerts += [f"locker {v.label}: {v.attention}" for v in views if v.attention]
        alerts += self._assistance_alerts()
        return ServiceHealth(
            board_ok=board_ok,
            free_lockers=sum(v.status == "available" for v in views),
            total_lockers=len(views),
            doors=doors,
            alerts=tuple(alerts),
            detail=detail,
        )

    def request_assistance(
        self, screen: str, language: str, locker_label: str | None = None
    ) -> AssistanceRequest:
        request = self.assistance.request(screen, language, locker_label)
        log.warning("assistance requested at %s (screen %s)", request.kiosk_id, screen)
        return request

    def _assistance_alerts(self) -> list[str]:
        """Recent "call staff" presses, for the staff panel's alerts; a database hiccup must
        not fail the health poll (the entry itself was audited when it was pressed)."""
        try:
            found = self.assistance.recent()
        except LockersError as exc:
            log.warning("assistance alerts not read: %s", exc.message)
            return []
        return [
            f"assistance requested {r.at:%H:%M:%S} UTC ({r.screen}"
            + (f", locker {r.locker_label})" if r.locker_label else ")")
            for r in found
        ]

    def _record_doors(
        self, views: list[LockerView], doors: dict[str, str], events: list[DoorEvent]
    ) -> None:
        """The site (its console) sees what this kiosk's doors do: states as they change, and
        forced or jammed doors as audit entries. A database hiccup must not fail the poll."""
        from lockers.kiosk.door_record import record_doors
        from lockers.store.models import utcnow

        # Only what changed: a write takes SQLite's write lock, and this runs every poll.
        doors = {
            label: state
            for label, state in doors.items()
            if state in ("open", "closed")
            and state != next((v.door_state for v in views if v.label == label), state)
        }
        if not doors and not events:
            return
        by_address = {(v.board, v.channel): v.label for v in views}
        seen = [
            (by_address.get((e.address.board, e.address.channel)), e.kind.value, e.detail)
            for e in events
        ]
        try:
            record_doors(self.store.database, self.rental.kiosk_id, doors, seen, utcnow())
        except LockersError as exc:
            log.warning("door states not recorded: %s", exc)

    def staff_directory(self) -> list[StaffEntry]:
        return self.staff.directory()

    def staff_login(self, name: str, pin: str) -> StaffSession:
        return self.staff.login(name, pin)

    def staff_logout(self, who: StaffSession, reason: str) -> None:
        self.staff.logout(who, reason)

    def staff_lockers(self, who: StaffSession) -> list[LockerView]:
        return self.staff.lockers(who)

    def staff_action(
        self, who: StaffSession, action: str, label: str, reason: str
    ) -> StaffActionResult:
        if action == "open":
            return self.staff.force_open(who, label, reason)
        if action == "reset":
            return self.staff.reset(who, label, reason)
        if action == "out_of_service":
            return self.staff.set_out_of_service(who, label, reason)
        if action == "back_in_service":
            return self.staff.back_in_service(who, label)
        raise ValueError(f"unknown staff action {action!r}")

    def staff_audit(
        self, who: StaffSession, action: str | None, locker: str | None, limit: int
    ) -> list[AuditRow]:
        return self.staff.audit_log(
            who, action=action or None, locker_label=locker or None, limit=limit
        )

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for closer in reversed(self._closers):
            try:
                closer()
            except Exception:  # closing must go on for the other parts
                log.exception("error while closing")
