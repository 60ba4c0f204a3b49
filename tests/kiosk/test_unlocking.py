"""The one unlock sequence: intent committed before the board is told, outcome, door state and
audit recorded after, for every opening (register, retrieve, staff force-open, a command)."""

from __future__ import annotations

from datetime import UTC, datetime

from lockers_storekit import MODEL, ScriptedBoard, face
from sqlalchemy import select

from lockers.config import Settings
from lockers.hardware.board import LockAddress, UnlockOutcome, UnlockResult
from lockers.kiosk.rental_service import RentalService
from lockers.kiosk.staff_service import StaffService
from lockers.kiosk.startup import Store
from lockers.kiosk.unlocking import DoorOpener, DoorOrder, report_door, staff_opening
from lockers.soak.mix import KILL_STEPS
from lockers.store import audit, lockers_repo
from lockers.store.audit_values import AuditOutcome
from lockers.store.db import Database
from lockers.store.models import DoorStateValue, LockerStatus, UnlockPurpose, UnlockRequest

NOW = datetime(2026, 1, 1, 12, tzinfo=UTC)


class WitnessBoard(ScriptedBoard):
    """Records, when told to open, which unlock intents another connection sees pending."""

    def __init__(self, database: Database) -> None:
        super().__init__()
        self.database = database
        self.pending_at_pulse: list[list[tuple[str, str]]] = []

    def unlock(self, address: LockAddress) -> UnlockResult:
        with self.database.transaction() as session:
            pending = session.scalars(select(UnlockRequest).where(UnlockRequest.outcome.is_(None)))
            self.pending_at_pulse.append([(r.purpose.value, r.kiosk_id) for r in pending])
        return super().unlock(address)


def test_every_opening_commits_its_intent_first_and_names_its_steps(
    settings: Settings, store: Store
) -> None:
    board = WitnessBoard(store.database)
    steps: list[str] = []
    kiosk = RentalService.from_settings(
        settings, store.database, board, store.cipher, clock=lambda: NOW, checkpoint=steps.append
    )
    staff = StaffService(store.database, board, clock=lambda: NOW, checkpoint=steps.append)
    staff.add_staff("alice", "482916")

    kiosk.register(face(1), consent=True, model_version=MODEL)
    kiosk.retrieve(face(1), model_version=MODEL)
    staff.force_open(staff.login("alice", "482916"), "2", "check")

    assert board.pending_at_pulse == [
        [("register", "kiosk-1")],
        [("retrieve", "kiosk-1")],
        [("force_open", "kiosk-1")],
    ]
    # Every kill point the soak uses is still reached, in its order, between the same steps.
    soak_points = [s for points in KILL_STEPS.values() for s in points if s in steps]
    assert {s for points in KILL_STEPS.values() for s in points} - set(soak_points) == {
        "reset:ended",
        "reset:committed",
    }
    for points in KILL_STEPS.values():
        reached = [steps.index(s) for s in points if s in steps]
        assert reached == sorted(reached)
    for purpose in ("register", "retrieve", "force_open"):
        assert steps.index(f"{purpose}:committed") + 1 == steps.index(f"{purpose}:pulsed")
    with store.database.transaction() as session:
        assert all(r.outcome == "opened" for r in session.scalars(select(UnlockRequest)))


def test_a_staff_command_opens_through_the_same_sequence(settings: Settings, store: Store) -> None:
    """What a command executor (a staff action sent from another kiosk) calls."""
    kiosk = RentalService.from_settings(
        settings, store.database, ScriptedBoard(), store.cipher, clock=lambda: NOW
    )
    rental = kiosk.register(face(1), consent=True, model_version=MODEL)
    board = ScriptedBoard([UnlockOutcome.UNCONFIRMED])
    opener = DoorOpener(store.database, board, clock=lambda: NOW)
    order = DoorOrder(UnlockPurpose.FORCE_OPEN, None, "staff:bob", "lost phone", "kiosk-7")

    result = opener.open(rental.locker_label or "", order, report_door, before=staff_opening)

    assert result.outcome is UnlockOutcome.UNCONFIRMED and len(board.calls) == 1
    with store.database.transaction() as session:
        request = session.scalars(
            select(UnlockRequest).where(UnlockRequest.kiosk_id == "kiosk-7")
        ).one()
        assert (request.rental_id, request.outcome) == (rental.rental_id, "unconfirmed")
        locker = lockers_repo.get_locker(session, rental.locker_label or "")
        assert locker.door_state == DoorStateValue.UNKNOWN
        assert locker.attention and "opened by staff" in locker.attention
        trail = [
            (e.actor, e.action, e.outcome, e.rental_id, e.reason)
            for e in audit.entries(session, action="force_open")
        ]
    assert trail == [
        ("staff:bob", "force_open", "requested", rental.rental_id, "lost phone"),
        ("staff:bob", "force_open", "unconfirmed", rental.rental_id, "scripted unconfirmed"),
    ]


def test_door_outcomes_and_locker_statuses_are_audit_outcomes() -> None:
    """The services audit a door's outcome and a locker's status as they are: each value must be
    in the contract, or the audit write refuses it."""
    allowed = {o.value for o in AuditOutcome}
    assert {o.value for o in UnlockOutcome} <= allowed
    assert {s.value for s in LockerStatus} <= allowed
