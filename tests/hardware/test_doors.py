"""The door tracker and the address map on their own: no serial port, a clock the test moves."""

from __future__ import annotations

import pytest

from lockers.config.hardware import LockerConfig
from lockers.errors import ConfigError
from lockers.hardware import DoorEvent, DoorEventKind, DoorState, LockAddress
from lockers.hardware.boards.addresses import AddressMap, AddressRules
from lockers.hardware.boards.doors import NOT_POLLED_YET, DoorTracker

A1, A2 = LockAddress(1, 1), LockAddress(1, 2)
OPEN, CLOSED, UNKNOWN = DoorState.OPEN, DoorState.CLOSED, DoorState.UNKNOWN


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def tracker(debounce_reads: int = 1, heard: list[DoorEvent] | None = None) -> DoorTracker:
    def listen(event: DoorEvent) -> None:
        if heard is not None:
            heard.append(event)

    return DoorTracker(
        {A1: "7", A2: "8"}, [1], debounce_reads=debounce_reads, on_event=listen, clock=Clock()
    )


def test_doors_are_unknown_until_read_and_a_silent_board_never_reads_closed() -> None:
    doors = tracker()
    assert doors.reported([A1, A2]) == {A1: UNKNOWN, A2: UNKNOWN}
    assert doors.observe({A1: CLOSED, A2: OPEN}) == {A1: CLOSED, A2: OPEN}
    assert doors.observe({A1: UNKNOWN, A2: UNKNOWN}) == {A1: UNKNOWN, A2: UNKNOWN}
    assert doors.reported([A1]) == {A1: UNKNOWN}
    # The board is back: the last known state still counts for what a change is.
    assert doors.observe({A1: OPEN}) == {A1: OPEN}
    assert [e.kind for e in doors.drain_events()] == [DoorEventKind.FORCED_OPEN]


def test_an_open_without_an_unlock_is_forced_and_an_expected_one_is_not() -> None:
    heard: list[DoorEvent] = []
    doors = tracker(heard=heard)
    clock = doors._clock
    assert isinstance(clock, Clock)
    doors.observe({A1: CLOSED, A2: CLOSED})
    doors.expect_open(A1, for_s=5.0)
    doors.observe({A1: OPEN})
    assert doors.drain_events() == [] and heard == []
    doors.observe({A1: CLOSED})
    doors.observe({A1: OPEN})  # the expectation was used up by the first opening
    clock.now += 1
    doors.expect_open(A2, for_s=5.0)
    clock.now += 6  # ... and this one ran out
    doors.observe({A2: OPEN})
    events = doors.drain_events()
    assert [(e.address, e.kind) for e in events] == [
        (A1, DoorEventKind.FORCED_OPEN),
        (A2, DoorEventKind.FORCED_OPEN),
    ]
    assert "locker 8 opened without an unlock command" in events[1].detail
    assert heard == events, "the listener hears every alert"
    assert doors.drain_events() == [], "draining empties the queue"


def test_a_change_counts_after_equal_readings_in_a_row() -> None:
    doors = tracker(debounce_reads=3)
    doors.observe({A1: CLOSED})
    assert doors.observe({A1: OPEN}) == {A1: CLOSED}
    assert doors.observe({A1: OPEN}) == {A1: CLOSED}
    assert doors.observe({A1: CLOSED}) == {A1: CLOSED}, "a bounce restarts the count"
    assert [doors.observe({A1: OPEN})[A1] for _ in range(3)] == [CLOSED, CLOSED, OPEN]


def test_a_listener_that_raises_does_not_stop_the_alerts() -> None:
    def broken(_event: DoorEvent) -> None:
        raise RuntimeError("listener bug")

    doors = DoorTracker({A1: "7"}, [1], on_event=broken)
    doors.observe({A1: CLOSED})
    doors.observe({A1: OPEN})
    assert [e.kind for e in doors.drain_events()] == [DoorEventKind.FORCED_OPEN]


def test_board_errors_and_health() -> None:
    doors = DoorTracker({A1: "7", LockAddress(2, 1): "9"}, [1, 2])
    assert doors.board_errors() == {1: NOT_POLLED_YET, 2: NOT_POLLED_YET}
    assert not doors.all_answered()
    doors.set_error(1, None)
    doors.set_error(2, "did not answer")
    assert doors.error_of(2) == "did not answer" and not doors.all_answered()
    doors.set_error(2, None)
    assert doors.all_answered()


def test_address_map_groups_channels_by_board_and_names_the_bad_locker() -> None:
    rules = AddressRules("kerong", (0, 15), (1, 16), "set the DIP switches")
    lockers = [
        LockerConfig(label="3", board=1, channel=4),
        LockerConfig(label="1", board=0, channel=2),
        LockerConfig(label="2", board=1, channel=1),
    ]
    wiring = AddressMap(lockers, rules)
    assert wiring.addresses == [LockAddress(0, 2), LockAddress(1, 1), LockAddress(1, 4)]
    assert wiring.boards == [0, 1] and wiring.channels == {0: [2], 1: [1, 4]}
    assert wiring.on_board(1) == [LockAddress(1, 1), LockAddress(1, 4)]
    assert wiring.label(LockAddress(1, 4)) == "3" and LockAddress(0, 1) not in wiring
    with pytest.raises(ConfigError, match="locker 'x': board 16 cannot be addressed") as info:
        AddressMap([LockerConfig(label="x", board=16, channel=1)], rules)
    assert info.value.hint == "set the DIP switches"
    with pytest.raises(ConfigError, match="channel 17 is outside the kerong protocol's range"):
        AddressMap([LockerConfig(label="y", board=0, channel=17)], rules)
