"""The soak's unlucky moments, replayed deterministically on real services and a real database:
staff's force-open while a registration's unlock is in flight, and the ledger's checks of both
defined outcomes (see lockers.soak.races)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "store"))
from lockers_storekit import (
    MODEL,
    ScriptedBoard,
    backend,
    database,
    db_url,
    face,
    settings,
)

from lockers.config import LockerConfig, Settings
from lockers.config.hardware import BoardConfig
from lockers.hardware.board import LockAddress, LockBoard, UnlockOutcome
from lockers.hardware.boards import open_board
from lockers.hardware.emulator import BoardEmulator
from lockers.kiosk.dto import RegisterOutcome
from lockers.kiosk.errors import StaffActionRefused
from lockers.kiosk.rental_service import RentalService
from lockers.kiosk.staff_service import StaffService
from lockers.kiosk.startup import Store, start_store
from lockers.soak.kiosks import Pulse
from lockers.soak.ledger import Ledger
from lockers.soak.ops import Op, OpKind, OpRecord, OpReport
from lockers.soak.people import People
from lockers.store import inspection
from lockers.store.db import Database

__all__ = ["backend", "database", "db_url", "settings"]
PIN = "482916"
NOW = datetime(2026, 1, 1, 12, tzinfo=UTC)


@pytest.fixture
def store(settings: Settings, database: Database) -> Iterator[Store]:
    opened, _report = start_store(settings)
    yield opened
    opened.close()


def test_staff_cannot_force_open_a_locker_a_registration_is_opening(
    settings: Settings, store: Store
) -> None:
    """Soak finding (issue 17, seed 1): a registration claimed locker 1, staff force-opened it
    before the registration's pulse, the customer filled it, and staff's reset ended their
    rental with their belongings inside. Now the force-open is refused while the registration's
    intent is in flight; the customer keeps an unflagged, occupied locker."""
    staff = StaffService(
        store.database, ScriptedBoard(), kiosk_id=settings.database.kiosk_id, clock=lambda: NOW
    )
    staff.add_staff("alice", PIN, "admin")
    who = staff.login("alice", PIN)
    refusals: list[str] = []

    def staff_arrive(step: str) -> None:
        if step == "register:committed":  # claimed and committed, not yet pulsed
            with pytest.raises(StaffActionRefused, match="being opened for a customer") as err:
                staff.force_open(who, "1", "check the door")
            refusals.append(err.value.message)

    kiosk = RentalService.from_settings(
        settings, store.database, ScriptedBoard(), store.cipher,
        kiosk_id=settings.database.kiosk_id, clock=lambda: NOW, checkpoint=staff_arrive,
    )  # fmt: skip
    result = kiosk.register(face(1), consent=True, model_version=MODEL)
    assert result.outcome is RegisterOutcome.OPENED and result.locker_label == "1"
    assert len(refusals) == 1
    with store.database.transaction() as session:
        state = next(s for s in inspection.locker_states(session) if s.label == "1")
    assert state.status == "occupied" and state.attention is None
    assert state.active_rental_id == result.rental_id
    # A moment later the locker is the customer's: staff may open it (and it gets flagged).
    assert staff.force_open(who, "1", "check the door").outcome == "opened"


# -- the ledger's checks of the defined outcomes ------------------------------------------

LOCKERS = [LockerConfig(label=str(i), board=0, channel=i) for i in (1, 2)]


def _record(kiosk: int, op: Op, start: float, end: float, report: OpReport | None) -> OpRecord:
    record = OpRecord(kiosk, f"soak-{kiosk}", op, start, end, report)
    record.steps = {} if report is None else dict(report.steps)
    return record


def test_the_ledger_flags_a_force_open_during_a_registration() -> None:
    ledger = Ledger(LOCKERS, People(1))
    register = _record(
        0,
        Op(1, OpKind.REGISTER, 0.0, person=7),
        1.0,
        2.0,
        OpReport(1, "opened", "1", 11, steps={"register:committed": 1.1, "register:pulsed": 1.5}),
    )
    reset = _record(
        1,
        Op(2, OpKind.STAFF_RESET, 0.0, label="1"),
        1.0,
        2.0,
        OpReport(2, "reset", "1", steps={"force_open:committed": 1.2, "reset:committed": 1.7}),
    )
    ledger.apply(1, [register, reset], [Pulse(1.25, 1, 0, 1, True), Pulse(1.55, 0, 0, 1, True)])
    assert ledger.counts["staff_open_during_registration"] == 1
    found = next(v for v in ledger.violations if v.invariant == "staff_open_during_registration")
    assert found.label == "1" and found.person == 7


def test_a_refused_force_open_is_not_a_race() -> None:
    ledger = Ledger(LOCKERS, People(1))
    register = _record(
        0,
        Op(1, OpKind.REGISTER, 0.0, person=7),
        1.0,
        2.0,
        OpReport(1, "opened", "1", 11, steps={"register:committed": 1.1, "register:pulsed": 1.5}),
    )
    refused = _record(1, Op(2, OpKind.STAFF_RESET, 0.0, label="1"), 1.0, 2.0, OpReport(2, "error"))
    ledger.apply(1, [register, refused], [Pulse(1.55, 0, 0, 1, True)])
    assert ledger.counts["staff_open_during_registration"] == 0
    assert "1" in ledger.staff_pending  # staff come back to it
    assert ledger.contents == {"1": 7}


def test_a_jammed_answer_for_a_latch_that_released_is_a_false_jam() -> None:
    ledger = Ledger(LOCKERS, People(1))
    register = _record(
        0,
        Op(1, OpKind.REGISTER, 0.0, person=7),
        1.0,
        2.0,
        OpReport(1, "jammed", "1", 11, board_events=["jammed"]),
    )
    register.fault = "bad_crc"
    ledger.apply(1, [register], [Pulse(1.2, 0, 0, 1, True)])
    assert ledger.counts["false_jams"] == 1
    assert "bad_crc" in ledger.violations[0].detail


def test_a_jam_whose_latch_held_is_a_true_jam() -> None:
    ledger = Ledger(LOCKERS, People(1))
    register = _record(
        0,
        Op(1, OpKind.REGISTER, 0.0, person=7),
        1.0,
        2.0,
        OpReport(1, "jammed", "1", 11, board_events=["jammed"]),
    )
    ledger.apply(1, [register], [Pulse(1.2, 0, 0, 1, False)])
    assert ledger.counts["false_jams"] == 0


# -- a lost reply is a gap in the watch: never a definitive jam -------------------------------


@pytest.fixture
def kerong(tmp_path: Path) -> Iterator[tuple[BoardEmulator, LockBoard]]:
    link = tmp_path / "tty"
    emulator = BoardEmulator("kerong", boards=1, channels=4, pulse_s=0.05, link=link)
    emulator.start()
    config = BoardConfig(
        protocol="kerong",
        port=str(link),
        pulse_ms=50,
        reply_timeout_s=0.15,
        poll_interval_s=0.03,
        detection_window_s=0.3,
        unlock_expiry_s=0.5,
    )
    board = open_board(config, [LockerConfig(label="1", board=0, channel=1)])
    try:
        yield emulator, board
    finally:
        board.close()
        emulator.stop()


def test_a_jam_seen_through_a_lost_unlock_reply_is_unconfirmed(
    kerong: tuple[BoardEmulator, LockBoard],
) -> None:
    """Soak finding (issue 17): staff's force-open met a door left open, the unlock's reply had a
    bad CRC, the door shut before the next reading, and the driver said JAMMED (for a
    registration: rental rolled back, belongings inside). A lost reply followed by closed
    readings looks exactly like a jam whose reply was lost, replayed here: it must be
    UNCONFIRMED, the pulse may have acted."""
    emulator, board = kerong
    emulator.jam(0, 1)
    emulator.corrupt_replies(1)  # the unlock's reply
    result = board.unlock(LockAddress(0, 1))
    assert result.outcome is UnlockOutcome.UNCONFIRMED, result
    assert "may have opened unseen" in result.detail
    assert not any(e.kind.value == "jammed" for e in board.poll_events())


def test_a_jam_watched_without_a_gap_is_jammed(kerong: tuple[BoardEmulator, LockBoard]) -> None:
    emulator, board = kerong
    emulator.jam(0, 1)
    result = board.unlock(LockAddress(0, 1))
    assert result.outcome is UnlockOutcome.JAMMED, result
    assert any(e.kind.value == "jammed" for e in board.poll_events())


def test_a_door_left_open_that_shuts_after_the_pulse_is_not_a_false_jam() -> None:
    """Soak (issue 17, run on seed 1): the previous customer's door was still open when the next
    op on that lock pulsed, and shut right after; the driver read it closed throughout and
    answered jammed. The pulse released nothing, so that answer is fair."""
    ledger = Ledger(LOCKERS, People(1))
    retrieve = _record(
        0,
        Op(1, OpKind.RETRIEVE, 0.0, person=7),
        1.0,
        2.0,
        OpReport(1, "door_not_confirmed", "1", 11, board_events=["jammed"]),
    )
    ledger.apply(1, [retrieve], [Pulse(1.2, 0, 0, 1, True, was_open=True)])
    assert ledger.counts["false_jams"] == 0
