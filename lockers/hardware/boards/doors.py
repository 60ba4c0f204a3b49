"""What the driver believes about each door, and the alerts it owes staff: no serial port here.

The tracker is fed readings (a board's answer, or ``UNKNOWN`` for a board that did not answer)
and decides what callers should believe: a change counts only after ``debounce_reads`` equal
readings in a row (feedback switches bounce); a door seen going from closed to open when no
unlock was sent is a ``FORCED_OPEN`` alert. It also keeps why each board's last exchange failed.
Thread-safe: the polling thread and unlocking threads share one tracker.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping

from lockers.hardware.board import DoorEvent, DoorEventKind, DoorState, LockAddress

log = logging.getLogger("lockers.hardware")

EventCallback = Callable[[DoorEvent], None]
NOT_POLLED_YET = "not polled yet"


class DoorTracker:
    """Door states, pending unlocks, alerts and per-board errors of one bus.

    Args:
        labels: the locker label of every configured lock (used in alert texts).
        boards: the board addresses on the bus.
        debounce_reads: equal readings in a row before a change of a known state counts.
        on_event: called (on the caller's thread) for every alert; a listener that raises is
            logged and otherwise ignored.
        clock: monotonic seconds (tests pass their own).
    """

    def __init__(
        self,
        labels: Mapping[LockAddress, str],
        boards: Iterable[int],
        *,
        debounce_reads: int = 1,
        on_event: EventCallback | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._labels = dict(labels)
        self._debounce_reads = debounce_reads
        self._on_event = on_event
        self._clock = clock
        self._lock = threading.Lock()
        self._known: dict[LockAddress, DoorState] = {}
        self._reported: dict[LockAddress, DoorState] = dict.fromkeys(
            self._labels, DoorState.UNKNOWN
        )
        self._expected_open: dict[LockAddress, float] = {}
        self._streaks: dict[LockAddress, tuple[DoorState, int]] = {}
        self._events: deque[DoorEvent] = deque(maxlen=1000)
        self._board_errors: dict[int, str | None] = dict.fromkeys(boards, NOT_POLLED_YET)

    # -- boards ------------------------------------------------------------------------------

    def set_error(self, board: int, message: str | None) -> None:
        """Record how the last exchange with ``board`` went (``None``: it answered)."""
        with self._lock:
            if message is not None and self._board_errors.get(board) is None:
                log.warning("board %d: %s", board, message)
            self._board_errors[board] = message

    def board_errors(self) -> dict[int, str | None]:
        """Board address -> why its last exchange failed (``None`` when it succeeded)."""
        with self._lock:
            return dict(self._board_errors)

    def error_of(self, board: int) -> str | None:
        with self._lock:
            return self._board_errors.get(board)

    def all_answered(self) -> bool:
        """Whether the last exchange with every board succeeded."""
        with self._lock:
            return all(error is None for error in self._board_errors.values())

    # -- doors -------------------------------------------------------------------------------

    def reported(self, addresses: Iterable[LockAddress]) -> dict[LockAddress, DoorState]:
        """What callers should believe about each door now."""
        with self._lock:
            return {address: self._reported[address] for address in addresses}

    def expect_open(self, address: LockAddress, for_s: float) -> None:
        """An unlock was sent: the door opening within ``for_s`` is not a forced open."""
        with self._lock:
            self._expected_open[address] = self._clock() + for_s

    def observe(self, readings: Mapping[LockAddress, DoorState]) -> dict[LockAddress, DoorState]:
        """Record readings; returns the debounced states (what callers should believe).

        ``UNKNOWN`` (board silent) counts at once and does not erase the last known state.
        """
        now = self._clock()
        forced: list[LockAddress] = []
        accepted: dict[LockAddress, DoorState] = {}
        with self._lock:
            for address, reading in readings.items():
                previous = self._known.get(address)
                state = accepted[address] = self._debounce(address, reading, previous)
                if state is DoorState.OPEN and previous is DoorState.CLOSED:
                    if self._expected_open.get(address, 0.0) >= now:
                        del self._expected_open[address]
                    else:
                        forced.append(address)
                if state is not DoorState.UNKNOWN:
                    self._known[address] = state
                self._reported[address] = state
        for address in forced:
            detail = f"locker {self._labels[address]} opened without an unlock command"
            self.emit(DoorEvent(address, DoorEventKind.FORCED_OPEN, time.time(), detail))
        return accepted

    def _debounce(
        self, address: LockAddress, reading: DoorState, previous: DoorState | None
    ) -> DoorState:
        """Called with the lock held."""
        if reading is DoorState.UNKNOWN or previous is None or reading is previous:
            self._streaks.pop(address, None)
            return reading
        candidate, count = self._streaks.get(address, (reading, 0))
        count = count + 1 if candidate is reading else 1
        if count >= self._debounce_reads:
            self._streaks.pop(address, None)
            return reading
        self._streaks[address] = (reading, count)
        return previous

    # -- alerts ------------------------------------------------------------------------------

    def emit(self, event: DoorEvent) -> None:
        """Queue an alert for :meth:`drain_events` and tell the listener."""
        log.warning("door event %s at %s: %s", event.kind.value, event.address, event.detail)
        with self._lock:
            self._events.append(event)
        if self._on_event is not None:
            try:
                self._on_event(event)
            except Exception:  # a listener's bug must not break the polling of the doors
                log.exception("door event listener failed")

    def drain_events(self) -> list[DoorEvent]:
        """Alerts since the last call, oldest first."""
        with self._lock:
            events = list(self._events)
            self._events.clear()
        return events
