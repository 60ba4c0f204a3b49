"""The one unlock sequence every door opening goes through (register, retrieve, staff
force-open, and later a staff command from another kiosk):

1. the **intent** is committed: an ``unlock_requests`` row without an outcome, and its audit
   entry, in a transaction of its own (or in the caller's reservation transaction, see
   :meth:`DoorOpener.intend`) - a crash after this leaves a trace the start-up check flags;
2. the board is told to **pulse**, outside any transaction;
3. the **outcome** is recorded in one transaction: the intent's outcome, the door state, what the
   caller makes of it (``settle``: end or void a rental, flag the locker) and the audit entry.

Checkpoints ``<purpose>:committed`` and ``<purpose>:pulsed`` are called between the steps (the
soak kills kiosk processes there). See docs/architecture.md.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Generic, TypeVar

from lockers.errors import LockersError, StoreError
from lockers.hardware.board import LockAddress, LockBoard, UnlockOutcome, UnlockResult
from lockers.kiosk.errors import StaffActionRefused
from lockers.store import audit, lockers_repo, rentals, unlocks
from lockers.store.audit_values import AuditAction, AuditOutcome
from lockers.store.db import Database, Session
from lockers.store.models import DoorStateValue, Locker, Rental, UnlockPurpose, utcnow

log = logging.getLogger(__name__)

Checkpoint = Callable[[str], None]
"""Called with a step name (``"register:claimed"``...) between steps; tests kill the process
there to prove that every crash point leaves a consistent database."""

T = TypeVar("T")

# The audit action of the intent entry and of the outcome entry, per purpose. Register and
# retrieve record the door as ``unlock`` (their intent entries say what was reserved/matched).
_AUDIT_ACTIONS: dict[UnlockPurpose, tuple[AuditAction, AuditAction]] = {
    UnlockPurpose.REGISTER: (AuditAction.REGISTER, AuditAction.UNLOCK),
    UnlockPurpose.RETRIEVE: (AuditAction.RETRIEVE, AuditAction.UNLOCK),
    UnlockPurpose.FORCE_OPEN: (AuditAction.FORCE_OPEN, AuditAction.FORCE_OPEN),
}


def no_checkpoint(_step: str) -> None:
    """The default checkpoint: does nothing."""


def pulse(board: LockBoard, address: LockAddress) -> UnlockResult:
    """Ask the board once. A driver that raises is treated as UNCONFIRMED: we cannot prove the
    pulse never reached the wire, so the rental must not be dropped."""
    try:
        return board.unlock(address)
    except (LockersError, OSError) as exc:
        log.warning("unlock of %s raised %s", address, exc)
        return UnlockResult(address, UnlockOutcome.UNCONFIRMED, f"driver error: {exc}")


@dataclass(frozen=True)
class DoorOrder:
    """Who opens which door, why, for which rental; ``score``: the match score, if any."""

    purpose: UnlockPurpose
    rental_id: int | None
    actor: str
    reason: str | None
    kiosk_id: str
    score: float | None = None


@dataclass(frozen=True)
class Intent:
    """A committed unlock intent: what step 2 and 3 need, no ORM object."""

    order: DoorOrder
    request_id: int
    locker_id: int
    locker_label: str
    address: LockAddress


@dataclass(frozen=True)
class Settled(Generic[T]):
    """What a caller made of the door's outcome: its own result, and the audit outcome."""

    value: T
    outcome: AuditOutcome
    reason: str | None


@dataclass(frozen=True)
class DoorOutcome:
    """The board's answer to an intent, inside the transaction that records it."""

    session: Session
    intent: Intent
    locker: Locker
    rental: Rental | None  # the rental the intent names, as it is now
    result: UnlockResult
    now: datetime

    @property
    def named_rental(self) -> Rental:
        """The rental of a register or retrieve intent (which always names one)."""
        if self.rental is None:
            raise ValueError(f"the {self.intent.order.purpose} unlock names no rental")
        return self.rental


Settle = Callable[[DoorOutcome], Settled[T]]
"""Applies the caller's consequences of a door outcome inside the outcome transaction."""


def report_door(door: DoorOutcome) -> Settled[UnlockResult]:
    """The settle of an opening with no rental consequence (staff force-open): the door's own
    outcome is audited."""
    result = door.result
    return Settled(result, AuditOutcome(result.outcome.value), result.detail or None)


Prepare = Callable[[Session, Locker, DoorOrder], DoorOrder]
"""Runs first in :meth:`DoorOpener.open`'s intent transaction; returns the order to record."""


REGISTER_IN_FLIGHT_S = 600.0
"""A registration's unlock intent younger than this is in flight (claimed, not yet pulsed and
recorded); an older one was left by a kiosk that died and has not restarted yet."""


def staff_opening(
    session: Session, locker: Locker, order: DoorOrder, *, now: datetime | None = None
) -> DoorOrder:
    """The intent step of a staff opening (force-open here, or a command from another kiosk):
    the locker is flagged in the intent's transaction, so that no kiosk hands it out while staff
    have it open (a customer given it could lose their belongings to the reset that follows);
    the order names the rental the locker holds at that moment.

    Refused while a registration's unlock of the locker is in flight (soak finding, issue 17:
    a registration claimed the locker, staff force-opened it, the customer's door then opened
    and they filled it, and staff's reset ended their rental with the belongings inside; the
    next registration handed the locker to a stranger). A moment later the locker is the
    customer's (occupied) or free again.

    Raises:
        StaffActionRefused: a registration's unlock of this locker is in flight (``now``:
            the caller's clock, default the wall clock).
    """
    # Wait for a registration claiming a locker right now (PostgreSQL's registration lock;
    # SQLite serialises writers anyway), so that its intent is seen below.
    lockers_repo.serialise_registrations(session)
    now = utcnow() if now is None else now
    for request in unlocks.pending_unlocks(session):
        if request.locker_id != locker.id or request.purpose is not UnlockPurpose.REGISTER:
            continue
        if (now - request.requested_at).total_seconds() < REGISTER_IN_FLIGHT_S:
            raise StaffActionRefused(
                f"locker {locker.label} is being opened for a customer's registration "
                f"on {request.kiosk_id} right now",
                hint="wait a moment and try again: the locker will then be theirs or free",
            )
    lockers_repo.flag(session, locker, "opened by staff: reset it to put it back in use")
    rental = lockers_repo.active_rental_of(session, locker.id)
    return replace(order, rental_id=None if rental is None else rental.id)


class DoorOpener:
    """Owns the intent → pulse → outcome sequence for one kiosk's board."""

    def __init__(
        self,
        database: Database,
        board: LockBoard,
        *,
        clock: Callable[[], datetime],
        checkpoint: Checkpoint = no_checkpoint,
    ) -> None:
        self._db = database
        self.board = board
        self._clock = clock
        self._checkpoint = checkpoint

    def open(
        self,
        locker_label: str,
        order: DoorOrder,
        settle: Settle[T],
        *,
        before: Prepare | None = None,
    ) -> T:
        """The whole sequence for a locker known by label: the intent in its own transaction
        (``before`` runs in it first, e.g. :func:`staff_opening`), then :meth:`complete`.

        Raises:
            UnknownLockerError: no such locker. StoreError: the database failed.
        """
        with self._db.transaction() as session:
            locker = lockers_repo.get_locker(session, locker_label)
            if before is not None:
                order = before(session, locker, order)
            intent = self.intend(session, locker, order, AuditOutcome.REQUESTED)
        return self.complete(intent, settle)

    def intend(
        self,
        session: Session,
        locker: Locker,
        order: DoorOrder,
        announce: AuditOutcome,
        now: datetime | None = None,
    ) -> Intent:
        """Step 1 inside the caller's transaction (the reservation that chose ``locker``): the
        intent row and its audit entry (``announce``: reserved, duplicate, matched...). The
        intent is durable when that transaction commits, before :meth:`complete` pulses."""
        now = self._clock() if now is None else now
        request = unlocks.request_unlock(
            session,
            locker,
            order.purpose,
            now=now,
            kiosk_id=order.kiosk_id,
            rental_id=order.rental_id,
        )
        intent_action = _audit_actions(order.purpose)[0]
        self._audit(session, order, intent_action, announce, locker.label, order.reason, now)
        address = LockAddress(locker.board, locker.channel)
        return Intent(order, request.id, locker.id, locker.label, address)

    def complete(self, intent: Intent, settle: Settle[T]) -> T:
        """Steps 2 and 3 for a committed intent: pulse, then record the outcome (door state,
        ``settle``'s consequences, audit) in one transaction."""
        step = intent.order.purpose.value
        self._checkpoint(f"{step}:committed")
        result = pulse(self.board, intent.address)
        self._checkpoint(f"{step}:pulsed")
        now = self._clock()
        with self._db.transaction() as session:
            unlocks.finish_unlock(
                session, intent.request_id, result.outcome.value, result.detail, now
            )
            # By id, not label: the locker may have been retired from the config meanwhile.
            locker = session.get(Locker, intent.locker_id)
            if locker is None:
                raise StoreError(f"locker {intent.locker_label} vanished during its unlock")
            opened = result.outcome is UnlockOutcome.OPENED
            locker.door_state = DoorStateValue.OPEN if opened else DoorStateValue.UNKNOWN
            rental_id = intent.order.rental_id
            rental = None if rental_id is None else rentals.require_rental(session, rental_id)
            settled = settle(DoorOutcome(session, intent, locker, rental, result, now))
            outcome_action = _audit_actions(intent.order.purpose)[1]
            order, label = intent.order, intent.locker_label
            self._audit(session, order, outcome_action, settled.outcome, label, settled.reason, now)
        return settled.value

    @staticmethod
    def _audit(
        session: Session,
        order: DoorOrder,
        action: AuditAction,
        outcome: AuditOutcome,
        label: str,
        reason: str | None,
        now: datetime,
    ) -> None:
        trail = audit.Writer(session, now, order.actor)
        trail.add(action, outcome, label, order.rental_id, reason, order.score)


def _audit_actions(purpose: UnlockPurpose) -> tuple[AuditAction, AuditAction]:
    """The audit actions of an intent and of its outcome."""
    actions = _AUDIT_ACTIONS.get(purpose)
    if actions is None:
        raise StoreError(f"unlock purpose {purpose!r} has no audit action")
    return actions
