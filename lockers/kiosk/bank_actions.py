"""The staff actions on a locker of this kiosk's bank, by whoever asks: staff logged in here
(:class:`~lockers.kiosk.staff_service.StaffService`) or staff at another kiosk of the site,
whose command this kiosk executes (:class:`~lockers.kiosk.site_executor.CommandExecutor`).
One path for both, so a remote open is audited, flagged and settled exactly like a local one.

Each action refuses a locker of another kiosk's bank: only its own kiosk drives its board.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from lockers.hardware.board import LockBoard, UnlockResult
from lockers.kiosk.dto import StaffActionResult
from lockers.kiosk.errors import StaffActionRefused
from lockers.kiosk.unlocking import (
    Checkpoint,
    DoorOpener,
    DoorOrder,
    no_checkpoint,
    report_door,
    staff_opening,
)
from lockers.store import audit, lockers_repo, rentals
from lockers.store.audit_values import AuditAction, AuditOutcome
from lockers.store.db import Database, Session
from lockers.store.models import Locker, LockerStatus, RentalState, UnlockPurpose


class NotThisBank(StaffActionRefused):
    """The locker is in another kiosk's bank: only that kiosk may drive it."""


def require_own(locker: Locker, kiosk_id: str) -> None:
    """Raises: NotThisBank: ``locker`` belongs to another kiosk's bank."""
    if locker.kiosk_id != kiosk_id:
        raise NotThisBank(
            f"locker {locker.label} is in the bank of kiosk {locker.kiosk_id!r}, not of this "
            f"kiosk ({kiosk_id!r})",
            hint="only the kiosk in front of a bank drives its lock board: send it a command",
        )


@dataclass(frozen=True)
class BankActions:
    """Staff actions on this kiosk's own lockers; ``actor`` is ``staff:<name>`` in the log."""

    database: Database
    board: LockBoard | None
    kiosk_id: str
    clock: Callable[[], datetime]
    checkpoint: Checkpoint = no_checkpoint

    def owner_of(self, label: str) -> str:
        """The kiosk whose bank holds locker ``label``. Raises: UnknownLockerError."""
        with self.database.transaction() as session:
            return lockers_repo.get_locker(session, label).kiosk_id

    def force_open(self, actor: str, label: str, reason: str) -> StaffActionResult:
        """Open the door without ending its rental; the locker is flagged for staff in the
        intent's transaction (see :func:`~lockers.kiosk.unlocking.staff_opening`).

        Raises: StaffActionRefused (no board, another bank), UnknownLockerError.
        """
        if self.board is None:
            raise StaffActionRefused(
                "no lock board is connected to this command", hint="run it on the kiosk"
            )
        opener = DoorOpener(self.database, self.board, clock=self.clock, checkpoint=self.checkpoint)
        order = DoorOrder(UnlockPurpose.FORCE_OPEN, None, actor, reason, self.kiosk_id)

        def own_then_flag(session: Session, locker: Locker, order: DoorOrder) -> DoorOrder:
            require_own(locker, self.kiosk_id)
            return staff_opening(session, locker, order, now=self.clock())

        result: UnlockResult = opener.open(label, order, report_door, before=own_then_flag)
        return StaffActionResult(label, "force_open", result.outcome.value, result.detail)

    def reset(self, actor: str, staff_name: str, label: str, reason: str) -> StaffActionResult:
        """End the locker's rental (templates deleted in the same transaction), clear its flag,
        make it available (unless out of service).

        Raises: StaffActionRefused (another bank), UnknownLockerError.
        """
        now = self.clock()
        with self.database.transaction() as session:
            locker = lockers_repo.get_locker(session, label)
            require_own(locker, self.kiosk_id)
            rental = lockers_repo.active_rental_of(session, locker.id)
            deleted = 0
            if rental is not None:
                deleted = rentals.close_rental(
                    session,
                    rental,
                    RentalState.ENDED,
                    now=now,
                    reason=f"staff reset by {staff_name}: {reason}",
                    free_locker=True,
                )
                self.checkpoint("reset:ended")
            if locker.status == LockerStatus.OCCUPIED:
                locker.status = LockerStatus.AVAILABLE
            locker.attention = None
            detail = (
                f"rental {rental.id} ended, {deleted} templates deleted"
                if rental is not None
                else "no active rental"
            )
            rental_id = None if rental is None else rental.id
            audit.Writer(session, now, actor).add(
                AuditAction.RESET, AuditOutcome.OK, label, rental_id, f"{reason} ({detail})"
            )
        self.checkpoint("reset:committed")
        return StaffActionResult(label, "reset", "ok", detail)

    def out_of_service(self, actor: str, label: str, reason: str) -> StaffActionResult:
        """Take a locker out of allocation (an active rental in it stays retrievable by staff).

        Raises: StaffActionRefused (another bank), UnknownLockerError.
        """
        with self.database.transaction() as session:
            locker = lockers_repo.get_locker(session, label)
            require_own(locker, self.kiosk_id)
            locker.status = LockerStatus.OUT_OF_SERVICE
            trail = audit.Writer(session, self.clock(), actor)
            trail.add(AuditAction.OUT_OF_SERVICE, AuditOutcome.OK, label, reason=reason)
        return StaffActionResult(label, "out_of_service", "ok")

    def back_in_service(self, actor: str, label: str, reason: str = "") -> StaffActionResult:
        """Occupied if the locker still holds a rental, else available.

        Raises: StaffActionRefused (not out of service, another bank), UnknownLockerError.
        """
        with self.database.transaction() as session:
            locker = lockers_repo.get_locker(session, label)
            require_own(locker, self.kiosk_id)
            if locker.status != LockerStatus.OUT_OF_SERVICE:
                raise StaffActionRefused(f"locker {label} is not out of service")
            rental = lockers_repo.active_rental_of(session, locker.id)
            locker.status = LockerStatus.AVAILABLE if rental is None else LockerStatus.OCCUPIED
            status = AuditOutcome(locker.status.value)
            audit.Writer(session, self.clock(), actor).add(
                AuditAction.BACK_IN_SERVICE, status, label, reason=reason or None
            )
        return StaffActionResult(label, "back_in_service", "ok")
