"""The ledger's replay of one cycle: physical lock pulses and kiosk answers in time order."""

from __future__ import annotations

from lockers.config import LockerConfig
from lockers.soak.kiosks import Pulse
from lockers.soak.ledger import Ledger, OpRecord
from lockers.soak.ops import Op, OpKind, OpReport
from lockers.soak.people import People

LOCKERS = [LockerConfig(label=str(i), board=0, channel=i) for i in (1, 2)]


def _record(
    kiosk: int, kind: OpKind, person: int | None, start: float, end: float, **report: object
) -> OpRecord:
    steps = report.pop("steps", {})
    done = OpReport(seq=0, **report)  # type: ignore[arg-type]
    done.steps = steps  # type: ignore[assignment]
    record = OpRecord(kiosk, f"soak-{kiosk}", Op(0, kind, 0.0, person=person), start, end, done)
    record.steps = done.steps
    return record


def _ledger(bank_of: dict[str, int] | None = None) -> Ledger:
    return Ledger(LOCKERS, People(1), bank_of)


TWO_BANKS = {"1": 0, "2": 1}  # locker 1 is kiosk 0's, locker 2 kiosk 1's


def test_a_lock_fired_while_its_kiosk_is_idle_is_unrequested() -> None:
    ledger = _ledger()
    ledger.apply(1, [], [Pulse(5.0, 0, 0, 1, True)])
    assert ledger.counts["unrequested_opens"] == 1


def test_register_then_retrieve_moves_belongings_in_and_out() -> None:
    ledger = _ledger()
    register = _record(
        0,
        OpKind.REGISTER,
        7,
        1.0,
        2.0,
        outcome="opened",
        label="1",
        rental_id=1,
        steps={"register:claimed": 1.1, "register:pulsed": 1.3},
    )
    ledger.apply(1, [register], [Pulse(1.2, 0, 0, 1, True)])
    assert ledger.contents == {"1": 7}
    retrieve = _record(
        1,
        OpKind.RETRIEVE,
        7,
        3.0,
        4.0,
        outcome="opened",
        label="1",
        rental_id=1,
        steps={"retrieve:ended": 3.5},
    )
    ledger.apply(2, [retrieve], [Pulse(3.2, 1, 0, 1, True)])
    assert ledger.contents == {} and not ledger.violations


def test_a_door_opened_for_a_stranger_is_a_wrong_locker_open() -> None:
    ledger = _ledger()
    ledger.contents["2"] = 3
    stranger = _record(0, OpKind.RETRIEVE, 1 << 41, 1.0, 2.0, outcome="opened", label="2")
    ledger.apply(1, [stranger], [Pulse(1.5, 0, 0, 2, True)])
    assert ledger.counts["wrong_locker_opens"] == 1
    assert ledger.contents == {"2": 3}  # the stranger did not get the belongings in the ledger


def test_another_kiosk_reusing_a_locker_just_freed_is_not_a_double_booking() -> None:
    """Kiosk 1's answer arrives first, but the rental it ends ended before kiosk 0 claimed."""
    ledger = _ledger()
    ledger.contents["1"], ledger.rentals["1"] = 5, (10, 5)
    retrieve = _record(
        1,
        OpKind.RETRIEVE,
        5,
        1.0,
        1.9,
        outcome="opened",
        label="1",
        rental_id=10,
        steps={"retrieve:ended": 1.3},
    )
    register = _record(
        0,
        OpKind.REGISTER,
        6,
        1.0,
        1.8,
        outcome="opened",
        label="1",
        rental_id=11,
        steps={"register:claimed": 1.4},
    )
    pulses = [Pulse(1.5, 0, 0, 1, True), Pulse(1.2, 1, 0, 1, True)]
    ledger.apply(1, [retrieve, register], pulses)
    assert not ledger.violations, ledger.violations
    assert ledger.contents == {"1": 6} and ledger.rentals == {"1": (11, 6)}


def test_handing_out_a_locker_whose_rental_runs_is_a_double_booking() -> None:
    ledger = _ledger()
    ledger.contents["1"], ledger.rentals["1"] = 5, (10, 5)
    register = _record(
        0,
        OpKind.REGISTER,
        6,
        1.0,
        2.0,
        outcome="opened",
        label="1",
        rental_id=11,
        steps={"register:claimed": 1.1},
    )
    ledger.apply(1, [register], [Pulse(1.5, 0, 0, 1, True)])
    assert ledger.counts["double_bookings"] == 1
    assert ledger.counts["wrong_locker_opens"] == 1


def test_a_locker_reset_by_staff_may_be_claimed_before_the_resets_answer() -> None:
    """Staff on kiosk 1 empty and reset an expired renter's locker; kiosk 0 claims it right
    after the reset commits, while kiosk 1 is still recording that it did."""
    ledger = _ledger()
    ledger.contents["1"] = 5  # expired: no rental, flagged
    reset = _record(
        1,
        OpKind.STAFF_RESET,
        None,
        1.0,
        2.0,
        outcome="reset",
        label="1",
        steps={"force_open:committed": 1.1, "reset:committed": 1.6},
    )
    register = _record(
        0,
        OpKind.REGISTER,
        6,
        1.0,
        1.9,
        outcome="opened",
        label="1",
        rental_id=11,
        steps={"register:claimed": 1.5},
    )
    pulses = [Pulse(1.2, 1, 0, 1, True), Pulse(1.55, 0, 0, 1, True)]
    ledger.apply(1, [reset, register], pulses)
    assert not ledger.violations, ledger.violations
    assert ledger.contents == {"1": 6}


def test_a_retrieve_killed_after_ending_the_rental_frees_the_locker_for_another_kiosk() -> None:
    ledger = _ledger()
    ledger.contents["1"], ledger.rentals["1"] = 5, (10, 5)
    killed = OpRecord(1, "soak-1", Op(0, OpKind.RETRIEVE, 0.0, person=5), 1.0, 2.0, None)
    killed.steps = {"retrieve:committed": 1.05, "retrieve:pulsed": 1.2, "retrieve:ended": 1.25}
    register = _record(
        0,
        OpKind.REGISTER,
        6,
        1.0,
        1.9,
        outcome="opened",
        label="1",
        rental_id=11,
        steps={"register:claimed": 1.4},
    )
    pulses = [Pulse(1.1, 1, 0, 1, True), Pulse(1.5, 0, 0, 1, True)]
    ledger.apply(1, [killed, register], pulses)
    assert not ledger.violations, ledger.violations
    assert ledger.contents == {"1": 6}


def test_a_reset_killed_after_committing_on_a_locker_without_rental_emptied_it() -> None:
    """Soak regression (issue 14): staff reset a jammed register's locker (rental voided, so no
    ``reset:ended`` step), the kiosk died right after the commit, and the next registration there
    was counted as opening someone else's belongings."""
    ledger = _ledger()
    ledger.contents["1"] = 5  # the door opened although the board answered jammed
    reset = _record(1, OpKind.STAFF_RESET, None, 1.0, 2.0, outcome="reset", label="1")
    reset.op = Op(0, OpKind.STAFF_RESET, 0.0, label="1")
    reset.report = None  # killed
    reset.steps = {"force_open:committed": 1.1, "reset:committed": 1.6}
    ledger.apply(1, [reset], [Pulse(1.2, 1, 0, 1, True)])
    assert ledger.contents == {}
    register = _record(
        0,
        OpKind.REGISTER,
        6,
        3.0,
        3.9,
        outcome="opened",
        label="1",
        rental_id=11,
        steps={"register:claimed": 3.1},
    )
    ledger.apply(2, [register], [Pulse(3.5, 0, 0, 1, True)])
    assert not ledger.violations, ledger.violations
    assert ledger.contents == {"1": 6}


def _killed_reset(die_at: str | None, steps: dict[str, float]) -> OpRecord:
    reset = OpRecord(
        1, "soak-1", Op(0, OpKind.STAFF_RESET, 0.0, label="1", die_at=die_at), 1.0, 2.0
    )
    reset.steps = steps
    return reset


def test_a_reset_killed_before_its_commit_leaves_the_belongings_for_their_renter() -> None:
    """Soak regression (issue 17, seed 11): staff force-opened locker 1 (person 17's rental) and
    their kiosk died at ``reset:ended``, before the reset committed: rental still active, locker
    flagged "opened by staff". Person 17's retrieve on the other kiosk then opened it, and the
    ledger, which had staff empty the locker at the force-open, said it opened an empty locker
    for them (wrong_locker_opens). An interrupted reset empties nothing: staff come back."""
    ledger = _ledger()
    ledger.contents["1"], ledger.rentals["1"] = 17, (15, 17)
    reset = _killed_reset("reset:ended", {"force_open:committed": 1.2, "reset:ended": 1.25})
    retrieve = _record(
        0,
        OpKind.RETRIEVE,
        17,
        1.3,
        1.9,
        outcome="opened",
        label="1",
        rental_id=15,
        steps={"retrieve:ended": 1.5},
    )
    flags = {"1": "opened by staff: reset it to put it back in use"}
    pulses = [Pulse(1.22, 1, 0, 1, True), Pulse(1.45, 0, 0, 1, True)]
    ledger.apply(1, [reset, retrieve], pulses, flags)
    assert not ledger.violations, ledger.violations
    assert ledger.contents == {} and "1" in ledger.staff_pending


def test_a_reset_killed_at_random_after_ending_is_settled_by_the_flag() -> None:
    steps = {"force_open:committed": 1.2, "reset:ended": 1.25}
    for flag, emptied in (("opened by staff: reset it", False), (None, True)):
        ledger = _ledger()
        ledger.contents["1"] = 17
        ledger.apply(1, [_killed_reset(None, steps)], [Pulse(1.22, 1, 0, 1, True)], {"1": flag})
        assert (ledger.contents == {}) is emptied, flag


def test_a_renter_retrieving_just_after_staff_emptied_their_locker_is_not_a_wrong_open() -> None:
    """Soak (issue 17, final run on seed 1, cycle 71): staff came back to locker 1 after an
    interrupted reset and force-opened it (emptying it, person 62's rental still active); person
    62's retrieve on the other kiosk 24 ms later opened their own rental's locker. Nobody else's
    belongings were exposed: theirs are with staff."""
    ledger = _ledger()
    ledger.contents["1"], ledger.rentals["1"] = 62, (62, 62)
    reset = _record(
        1,
        OpKind.STAFF_RESET,
        None,
        1.0,
        2.0,
        outcome="reset",
        label="1",
        steps={"force_open:committed": 1.09, "reset:committed": 1.8},
    )
    retrieve = _record(
        0,
        OpKind.RETRIEVE,
        62,
        1.0,
        1.2,
        outcome="opened",
        label="1",
        rental_id=62,
        steps={"retrieve:ended": 1.118},
    )
    ledger.apply(1, [reset, retrieve], [Pulse(1.09, 1, 0, 1, True), Pulse(1.114, 0, 0, 1, True)])
    assert not ledger.violations, ledger.violations
    assert ledger.contents == {} and ledger.with_staff == {}


def test_a_stranger_opening_a_locker_staff_emptied_is_still_a_wrong_open() -> None:
    ledger = _ledger()
    ledger.contents["1"] = 62
    reset = _record(
        1, OpKind.STAFF_RESET, None, 1.0, 2.0, outcome="reset", label="1",
        steps={"force_open:committed": 1.09},
    )  # fmt: skip
    stranger = _record(0, OpKind.RETRIEVE, 1 << 41, 1.0, 1.2, outcome="opened", label="1")
    ledger.apply(1, [reset, stranger], [Pulse(1.09, 1, 0, 1, True), Pulse(1.114, 0, 0, 1, True)])
    assert ledger.counts["wrong_locker_opens"] == 1


def test_a_kiosk_firing_a_lock_of_another_bank_is_a_cross_bank_open() -> None:
    """A deliberately broken kiosk 1 pulses its own board's channel 1, which is kiosk 0's
    locker: the ledger reasons in (kiosk, board, channel) and catches it, even for the right
    customer."""
    ledger = _ledger(TWO_BANKS)
    ledger.contents["1"] = 7
    retrieve = _record(
        1,
        OpKind.RETRIEVE,
        7,
        1.0,
        2.0,
        outcome="opened",
        label="1",
        rental_id=1,
        steps={"retrieve:ended": 1.5},
    )
    ledger.apply(1, [retrieve], [Pulse(1.2, 1, 0, 1, True)])
    assert ledger.counts["cross_bank_opens"] == 1
    own = _record(1, OpKind.RETRIEVE, 8, 3.0, 4.0, outcome="no_match")
    ledger.apply(2, [own], [])
    assert ledger.counts["cross_bank_opens"] == 1


def test_a_retrieve_sent_to_the_owning_kiosk_opens_nothing_and_is_no_violation() -> None:
    ledger = _ledger(TWO_BANKS)
    ledger.contents["1"] = 7
    elsewhere = _record(
        1, OpKind.RETRIEVE, 7, 1.0, 2.0, outcome="at_other_kiosk", label="1", rental_id=1
    )
    ledger.apply(1, [elsewhere], [])
    assert ledger.contents == {"1": 7} and not ledger.violations
