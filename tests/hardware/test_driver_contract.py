"""Every driver against the emulator over a real pty: the LockBoard contract."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest
from conftest import BOARDS, Rig, fast_config, lockers_for, make_emulator

from lockers.config.hardware import LockerConfig
from lockers.hardware import DoorEventKind, DoorState, LockAddress, UnlockOutcome
from lockers.hardware.boards import open_board


def needs_feedback(rig: Rig) -> None:
    if rig.protocol == "lcus":
        pytest.skip("LCUS relay modules have no door sensor: jam/forced cannot be seen")


def poll_until(condition: Callable[[], bool], timeout_s: float = 2.0) -> bool:
    """Re-check a condition that talks to the board (each check is a bus transaction, which
    paces the loop) until it holds."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
    return condition()


def test_open_reports_door_opened_and_pulses_once(rig: Rig) -> None:
    board = rig.open()
    address = LockAddress(rig.boards[-1], 2)
    result = board.unlock(address)
    assert result.pulse_sent
    assert rig.emulator.pulse_count(address.board, 2) == 1
    assert rig.emulator.pulse_count(address.board, 1) == 0
    if rig.protocol == "lcus":
        assert result.outcome is UnlockOutcome.UNCONFIRMED
        assert "no door sensor" in result.detail
        assert rig.emulator.wait_until(lambda: not rig.emulator.relay_on(0, 2)), (
            "the host-timed pulse must end"
        )
        return
    assert result.outcome is UnlockOutcome.OPENED, result.detail
    assert board.door_states()[address] is DoorState.OPEN
    assert board.poll_events() == [], "a commanded open is not 'forced'"
    # The person closes the door again.
    assert poll_until(lambda: board.door_states()[address] is DoorState.CLOSED)
    assert board.healthy()


def test_jammed_lock(rig: Rig) -> None:
    needs_feedback(rig)
    board = rig.open()
    address = LockAddress(rig.boards[0], 3)
    rig.emulator.jam(address.board, 3)
    result = board.unlock(address)
    assert result.outcome is UnlockOutcome.JAMMED, result.detail
    assert rig.emulator.pulse_count(address.board, 3) == 1, "never re-sent"
    events = board.poll_events()
    assert [(e.address, e.kind) for e in events] == [(address, DoorEventKind.JAMMED)]


def test_forced_open_is_reported(rig: Rig) -> None:
    needs_feedback(rig)
    board = rig.open()
    address = LockAddress(rig.boards[0], 1)
    assert board.door_states()[address] is DoorState.CLOSED
    rig.emulator.force_open(address.board, 1)
    assert board.door_states()[address] is DoorState.OPEN
    events = board.poll_events()
    assert [(e.address, e.kind) for e in events] == [(address, DoorEventKind.FORCED_OPEN)]
    assert "opened without an unlock command" in events[0].detail
    assert board.poll_events() == [], "events are drained"


def test_silent_board_is_unknown_never_closed(rig: Rig) -> None:
    board = rig.open()
    silent = rig.boards[-1]
    rig.emulator.set_offline(True, board=silent)
    states = board.door_states()
    assert all(states[LockAddress(silent, ch)] is DoorState.UNKNOWN for ch in (1, 2, 3))
    error = board.board_errors()[silent]
    assert (
        error is not None and "did not answer within 0.15 s" in error and rig.emulator.port in error
    )
    assert not board.healthy()
    if len(rig.boards) > 1:
        other = rig.boards[0]
        assert states[LockAddress(other, 1)] is DoorState.CLOSED
        assert board.board_errors()[other] is None
    rig.emulator.set_offline(False, board=silent)
    board.door_states()
    assert board.healthy()


def test_lost_reply_is_unconfirmed_and_never_resent(rig: Rig) -> None:
    board = rig.open()
    address = LockAddress(rig.boards[-1], 1)
    rig.emulator.set_mute(True, board=address.board)  # acts, but every reply is lost
    result = board.unlock(address)
    assert result.outcome is UnlockOutcome.UNCONFIRMED
    assert result.pulse_sent
    assert rig.emulator.pulse_count(address.board, 1) == 1
    assert rig.emulator.door_open(address.board, 1) or rig.protocol == "lcus"


def test_corrupted_replies_are_rejected(rig: Rig) -> None:
    board = rig.open()
    rig.emulator.corrupt_replies(-1)
    states = board.door_states()
    assert set(states.values()) == {DoorState.UNKNOWN}
    errors = board.board_errors()
    assert all(e is not None and "invalid" in e for e in errors.values()), errors
    rig.emulator.corrupt_replies(0)
    expected = DoorState.UNKNOWN if rig.protocol == "lcus" else DoorState.CLOSED
    assert set(board.door_states().values()) == {expected}
    assert board.healthy()


def test_garbage_before_replies_never_misreads(rig: Rig) -> None:
    board = rig.open()
    rig.emulator.set_door(rig.boards[0], 2, True)
    rig.emulator.garbage_replies(-1)
    states = board.door_states()
    if rig.protocol != "lcus":
        assert states[LockAddress(rig.boards[0], 2)] is DoorState.OPEN
        assert states[LockAddress(rig.boards[0], 1)] is DoorState.CLOSED
    assert board.healthy(), board.board_errors()


def test_late_reply_times_out_then_recovers(rig: Rig) -> None:
    board = rig.open(poll_retries=0)
    rig.emulator.set_reply_delay(0.25)  # beyond the 0.15 s reply timeout
    sent = rig.emulator.replies_sent
    assert set(board.door_states().values()) == {DoorState.UNKNOWN}
    assert not board.healthy()
    rig.emulator.set_reply_delay(0.0)
    # One late reply per board arrives now: it must be flushed, not taken as an answer.
    assert rig.emulator.wait_until(lambda: rig.emulator.replies_sent >= sent + len(rig.boards))
    board.door_states()
    assert board.healthy(), board.board_errors()


def test_port_unplugged_and_back(rig: Rig) -> None:
    board = rig.open()
    address = LockAddress(rig.boards[0], 1)
    board.door_states()
    rig.emulator.unplug()
    assert set(board.door_states().values()) == {DoorState.UNKNOWN}
    assert not board.healthy()
    result = board.unlock(address)
    assert result.outcome is UnlockOutcome.NOT_SENT
    assert rig.emulator.port in result.detail
    rig.emulator.replug()
    expected = DoorState.UNKNOWN if rig.protocol == "lcus" else DoorState.CLOSED
    assert poll_until(lambda: board.door_states()[address] is expected and board.healthy())
    assert board.unlock(address).pulse_sent
    assert rig.emulator.pulse_count(address.board, 1) == 1


def test_unlock_expires_instead_of_queueing(rig: Rig) -> None:
    board = rig.open(unlock_expiry_s=0.1)
    rig.emulator.set_offline(True)  # every poll now holds the bus for its full timeout
    heard = rig.emulator.requests_bytes
    poller = threading.Thread(target=board.door_states, name="poller")
    poller.start()
    # The poll is on the wire: the poller holds the bus.
    assert rig.emulator.wait_until(lambda: rig.emulator.requests_bytes > heard)
    address = LockAddress(rig.boards[0], 1)
    result = board.unlock(address)
    poller.join()
    assert result.outcome is UnlockOutcome.NOT_SENT and "expired" in result.detail
    rig.emulator.set_offline(False)
    # A transaction runs after the bus freed (where a queued unlock would have gone first) ...
    expected = DoorState.UNKNOWN if rig.protocol == "lcus" else DoorState.CLOSED
    assert board.door_states()[address] is expected
    assert board.healthy(), board.board_errors()
    # ... and the lock was never fired.
    assert rig.emulator.pulse_count(address.board, 1) == 0, "an expired unlock is never replayed"


def test_unlocks_go_ahead_of_polls(rig: Rig) -> None:
    board = rig.open(unlock_expiry_s=1.0, poll_retries=0)
    rig.emulator.set_offline(True, board=rig.boards[0])  # the first board's poll is slow
    pollers = [threading.Thread(target=board.door_states, name=f"poller{i}") for i in range(3)]
    for thread in pollers:
        thread.start()
    # One poller holds the bus (its board is silent), the other two wait behind it.
    assert board._bus.wait_for_waiting(2, timeout_s=5)
    address = LockAddress(rig.boards[-1], 3)
    if len(rig.boards) == 1:
        rig.emulator.set_offline(False)
    started = time.monotonic()
    result = board.unlock(address)
    waited = time.monotonic() - started
    for thread in pollers:
        thread.join()
    assert result.pulse_sent, result.detail
    # At most the poll in progress (0.15 s timeout) ran before the unlock, not all three.
    assert waited < 0.15 * 2 + board.config.detection_window_s + 0.2


def test_unconfigured_address_is_not_sent(rig: Rig) -> None:
    board = rig.open()
    result = board.unlock(LockAddress(rig.boards[0], 7))
    assert result.outcome is UnlockOutcome.NOT_SENT and "no locker" in result.detail
    assert rig.emulator.pulse_count(rig.boards[0], 7) == 0


def test_closed_board_does_nothing(rig: Rig) -> None:
    board = rig.open()
    board.close()
    board.close()
    assert board.unlock(LockAddress(rig.boards[0], 1)).outcome is UnlockOutcome.NOT_SENT


@pytest.mark.parametrize("protocol", ["modbus", "kerong", "xor"])
def test_feedback_polarity_is_configurable(protocol: str) -> None:
    with make_emulator(protocol, feedback_invert=True) as emulator:
        config = fast_config(protocol, emulator.port, feedback_invert=True)
        with open_board(config, lockers_for(protocol)) as board:
            address = LockAddress(BOARDS[protocol][0], 1)
            assert board.door_states()[address] is DoorState.CLOSED
            assert board.unlock(address).outcome is UnlockOutcome.OPENED


def test_modbus_host_timed_pulse() -> None:
    with make_emulator("modbus") as emulator:
        config = fast_config("modbus", emulator.port, pulse_timing="host")
        with open_board(config, lockers_for("modbus")) as board:
            result = board.unlock(LockAddress(1, 2))
            assert result.outcome is UnlockOutcome.OPENED
            assert not emulator.relay_on(1, 2)


def test_modbus_refused_pulse_is_not_sent() -> None:
    with make_emulator("modbus", channels=8) as emulator:
        lockers = [LockerConfig(label="x", board=1, channel=12)]  # the board has 8 relays
        with open_board(fast_config("modbus", emulator.port), lockers) as board:
            result = board.unlock(LockAddress(1, 12))
    assert result.outcome is UnlockOutcome.NOT_SENT
    assert "illegal data address" in result.detail


def test_lcus_switches_all_relays_off_at_start_up() -> None:
    with make_emulator("lcus") as emulator:
        for channel in (1, 2, 3):
            emulator.boards[0].set_relay(channel, True, time.monotonic())
        with open_board(fast_config("lcus", emulator.port), lockers_for("lcus")):
            assert emulator.wait_until(
                lambda: not any(emulator.relay_on(0, ch) for ch in (1, 2, 3))
            )


def test_debounce_needs_equal_readings_in_a_row() -> None:
    with make_emulator("kerong", door_close_after_s=5) as emulator:
        config = fast_config("kerong", emulator.port, debounce_reads=2)
        with open_board(config, lockers_for("kerong")) as board:
            address = LockAddress(0, 1)
            emulator.force_open(0, 1)
            assert board.door_states()[address] is DoorState.CLOSED, "one reading is a bounce"
            assert board.poll_events() == []
            assert board.door_states()[address] is DoorState.OPEN
            assert [e.kind for e in board.poll_events()] == [DoorEventKind.FORCED_OPEN]


@pytest.mark.parametrize("protocol", ["modbus", "kerong", "xor"])
def test_garbled_replies_while_the_door_was_open_are_unconfirmed_never_jammed(
    protocol: str,
) -> None:
    # The door springs open at the pulse and a quick hand closes it again while every reply the
    # driver gets is garbled; the first reply it can read shows the door closed. A garbled reply
    # proves the board heard something, and the door was not watched while it was open: the
    # outcome is UNCONFIRMED (rental kept, staff told), never JAMMED (rental rolled back).
    with make_emulator(protocol, door_open_delay_s=0.0, door_close_after_s=0.05) as emulator:
        config = fast_config(protocol, emulator.port, detection_window_s=0.6)
        with open_board(config, lockers_for(protocol)) as board:
            address = LockAddress(BOARDS[protocol][0], 1)
            emulator.corrupt_replies(3)
            result = board.unlock(address)
            events = board.poll_events()
            assert emulator.corrupted_replies_sent == 3, "the fault was injected"
            assert emulator.door_opens(address.board, 1) == 1, "the door really opened"
            assert board.door_states()[address] is DoorState.CLOSED, "and was closed again"
    assert result.outcome is UnlockOutcome.UNCONFIRMED, result.detail
    assert "invalid reply" in result.detail
    assert events == [], "no jam alert for a door that may have opened"
    assert emulator.pulse_count(address.board, 1) == 1, "never re-sent"
