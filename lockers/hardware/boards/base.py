"""What every driver shares: timeouts, the bus arbiter, logging and the unlock discipline.

A protocol driver implements only the exchange of bytes (:meth:`SerialBoard._send_unlock`,
:meth:`SerialBoard._read_board`); this class decides what an exchange means (PROTOCOLS.md §5-6):

- a transaction starts with stale input flushed, and after a failure the line is let go quiet;
- one transaction at a time; unlocks go ahead of polls; an unlock that cannot get the bus or the
  port within ``unlock_expiry_s`` is dropped (``NOT_SENT``), never queued and replayed late;
- an unlock is written once: an error after the write means "may have reached the wire"
  (``UNCONFIRMED`` unless the feedback says otherwise), never a retry. Only polls are retried;
- after a pulse the feedback is polled every ``poll_interval_s`` for ``detection_window_s``:
  ``OPENED``, or ``JAMMED`` when the board answered but the door never opened;
- a board that does not answer makes its doors ``UNKNOWN``; a door seen going from closed to open
  with no unlock command is reported as a ``FORCED_OPEN`` event.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, ClassVar

from lockers.config.hardware import BoardConfig, LockerConfig
from lockers.errors import BoardError, ConfigError
from lockers.hardware.board import (
    DoorEvent,
    DoorEventKind,
    DoorState,
    LockAddress,
    LockBoard,
    UnlockOutcome,
    UnlockResult,
)
from lockers.hardware.boards.bus import BusArbiter
from lockers.hardware.transport import PortLost, PortUnavailable, SerialTransport

if TYPE_CHECKING:
    from lockers.hardware.emulator import BoardEmulator

log = logging.getLogger("lockers.hardware")

EventCallback = Callable[[DoorEvent], None]


class PulseRefused(BoardError):
    """The board answered the unlock with a refusal: the lock was provably not pulsed."""


class SerialBoard(LockBoard):
    """Base of the serial drivers. Build one through :func:`lockers.hardware.open_board`.

    Args:
        config: the ``board`` section (port, timings, polarity).
        lockers: the lockers wired to this bus; their (board, channel) pairs are validated
            against the protocol's ranges.
        port: overrides ``config.port`` (the CLI's ``--port``).
        on_event: called (on the polling thread) for every :class:`DoorEvent`; also queued for
            :meth:`poll_events`.

    Raises:
        ConfigError: a locker's board or channel is outside what the protocol can address.
    """

    protocol: ClassVar[str] = ""
    default_baudrate: ClassVar[int] = 9600
    board_range: ClassVar[tuple[int, int]] = (0, 255)  # inclusive
    channel_range: ClassVar[tuple[int, int]] = (1, 64)  # inclusive
    has_door_feedback: ClassVar[bool] = True
    # Whether the unlock's reply carries the door's state (a None from _send_unlock then means
    # the reply was lost or never came, so the door's state at the pulse is unknown).
    unlock_reply_has_door_state: ClassVar[bool] = False

    def __init__(
        self,
        config: BoardConfig,
        lockers: Sequence[LockerConfig],
        *,
        port: str | None = None,
        on_event: EventCallback | None = None,
    ) -> None:
        self.config = config
        self.port = port or config.port
        self._labels = self._validate(lockers)
        self._channels: dict[int, list[int]] = {}
        for address in self._labels:
            self._channels.setdefault(address.board, []).append(address.channel)
        for channels in self._channels.values():
            channels.sort()
        self._transport = SerialTransport(
            self.port,
            baudrate=config.baudrate or self.default_baudrate,
            parity=config.parity,
            reply_timeout_s=config.reply_timeout_s,
            quiet_s=config.quiet_s,
            inter_frame_gap_s=config.inter_frame_gap_s,
            reconnect_initial_s=config.reconnect_initial_s,
            reconnect_max_s=config.reconnect_max_s,
            exclusive=config.exclusive,
            on_reopen=self._connected,
        )
        self._bus = BusArbiter()
        self._state_lock = threading.Lock()
        self._known: dict[LockAddress, DoorState] = {}
        self._reported: dict[LockAddress, DoorState] = dict.fromkeys(
            self._labels, DoorState.UNKNOWN
        )
        self._expected_open: dict[LockAddress, float] = {}
        self._streaks: dict[LockAddress, tuple[DoorState, int]] = {}
        self._events: deque[DoorEvent] = deque(maxlen=1000)
        self._board_errors: dict[int, str | None] = dict.fromkeys(self._channels, "not polled yet")
        self._on_event = on_event
        self._closers: list[Callable[[], None]] = []
        self._closed = False
        self.emulator: BoardEmulator | None = None  # set when port is "emulator" (demo mode)

    # -- configuration -------------------------------------------------------------------

    @classmethod
    def _validate(cls, lockers: Sequence[LockerConfig]) -> dict[LockAddress, str]:
        labels: dict[LockAddress, str] = {}
        low_board, high_board = cls.board_range
        low_channel, high_channel = cls.channel_range
        for locker in lockers:
            if not low_board <= locker.board <= high_board:
                raise ConfigError(
                    f"locker {locker.label!r}: board {locker.board} cannot be addressed by the "
                    f"{cls.protocol} protocol (board addresses {low_board}-{high_board})",
                    hint=cls._board_hint(),
                )
            if not low_channel <= locker.channel <= high_channel:
                raise ConfigError(
                    f"locker {locker.label!r}: channel {locker.channel} is outside the "
                    f"{cls.protocol} protocol's range {low_channel}-{high_channel}",
                    hint="set the locker's channel to the lock's terminal number on the board",
                )
            labels[LockAddress(locker.board, locker.channel)] = locker.label
        return labels

    @classmethod
    def _board_hint(cls) -> str:
        return "set the locker's board: to the address set on the board (DIP switches)"

    @property
    def addresses(self) -> list[LockAddress]:
        """Every configured lock, sorted by board then channel."""
        return sorted(self._labels, key=lambda a: (a.board, a.channel))

    def label(self, address: LockAddress) -> str:
        """The locker label wired to ``address`` (KeyError if none)."""
        return self._labels[address]

    # -- lifecycle -------------------------------------------------------------------------

    def open(self) -> None:
        """Open the port, put the boards in a safe state and take a first reading.

        Raises:
            PortUnavailable: the port is missing, busy or not permitted (one line + hint).
        """
        self._transport.open()
        self.door_states()

    def own(self, closer: Callable[[], None]) -> None:
        """Run ``closer`` when this board closes (e.g. stop an in-process emulator)."""
        self._closers.append(closer)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        # Let a transaction in progress finish rather than cut a frame in half.
        with self._bus.hold(urgent=True, deadline=time.monotonic() + 2.0):
            self._transport.close()
        while self._closers:
            self._closers.pop()()

    def _connected(self) -> None:
        """Called each time the port (re)opens, before any other transaction."""
        try:
            self._on_connect()
        except BoardError as exc:
            log.warning("%s: start-up commands failed: %s", self.port, exc.message)

    def _on_connect(self) -> None:
        """Driver hook: put relays in a safe state (e.g. all off) after (re)opening."""

    # -- what drivers implement ------------------------------------------------------------

    def _send_unlock(self, address: LockAddress) -> DoorState | None:
        """Pulse one lock once. Returns the door state the board's reply shows, if any.

        Raises:
            PulseRefused: the board refused (the lock was not pulsed).
            BoardError: anything else after the write (the pulse may have happened).
        """
        raise NotImplementedError

    def _read_board(self, board: int, channels: list[int]) -> dict[int, DoorState]:
        """One status transaction with ``board``: channel -> door state.

        Raises:
            BoardError: timeout, invalid reply, or lost port.
        """
        raise NotImplementedError

    def _door_state(self, closed_bit: bool) -> DoorState:
        """Map a protocol's "closed" feedback bit to a door state, honouring polarity."""
        closed = closed_bit != self.config.feedback_invert
        return DoorState.CLOSED if closed else DoorState.OPEN

    # -- LockBoard -------------------------------------------------------------------------

    def unlock(self, address: LockAddress) -> UnlockResult:
        """Pulse one lock once and watch its feedback; see the module docstring.

        Never raises for board or port problems: they become the outcome and its ``detail``.
        Blocks for up to ``detection_window_s`` (plus a transaction).
        """
        if self._closed:
            return self._result(address, UnlockOutcome.NOT_SENT, "the board is closed")
        if address not in self._labels:
            return self._result(
                address, UnlockOutcome.NOT_SENT, f"no locker is configured at {address}"
            )
        started = time.monotonic()
        deadline = started + self.config.unlock_expiry_s
        send_error = ""
        with self._bus.hold(urgent=True, deadline=deadline) as got_bus:
            if self._closed:
                return self._result(address, UnlockOutcome.NOT_SENT, "the board is closed")
            if not got_bus:
                return self._result(
                    address,
                    UnlockOutcome.NOT_SENT,
                    f"expired: the bus stayed busy for {self.config.unlock_expiry_s:g} s",
                )
            try:
                self._transport.ensure_open(deadline)
                self._transport.flush_input()
            except BoardError as exc:
                self._set_error(address.board, exc.message)
                return self._result(address, UnlockOutcome.NOT_SENT, exc.message)
            with self._state_lock:
                closed_before = self._reported[address] is DoorState.CLOSED
            self._expect_open(address)
            log.info("pulse %s (locker %s)", address, self._labels[address])
            try:
                first = self._send_unlock(address)
            except PulseRefused as exc:
                self._set_error(address.board, exc.message)
                return self._result(address, UnlockOutcome.NOT_SENT, exc.message)
            except BoardError as exc:
                # The frame may have left: never re-sent; the feedback decides.
                first = None
                send_error = exc.message
                self._set_error(address.board, exc.message)
                self._settle()
        if not self.has_door_feedback:
            outcome = UnlockOutcome.UNCONFIRMED
            detail = send_error or f"pulse sent; {self.protocol} boards have no door sensor"
            return self._result(address, outcome, detail)
        if first is None and (self.unlock_reply_has_door_state or not closed_before):
            send_error = send_error or "the door's state at the pulse is unknown"
        return self._confirm(address, first, started, send_error)

    def door_states(self) -> dict[LockAddress, DoorState]:
        """Poll every board once; a board that does not answer makes its doors ``UNKNOWN``."""
        if not self._closed:
            for board in sorted(self._channels):
                self._poll_board(board)
        with self._state_lock:
            return {address: self._reported[address] for address in self.addresses}

    def healthy(self) -> bool:
        return self._transport.is_open and all(e is None for e in self._board_errors.values())

    def board_errors(self) -> dict[int, str | None]:
        """Board address -> why its last exchange failed (``None`` when it succeeded)."""
        with self._state_lock:
            return dict(self._board_errors)

    def poll_events(self) -> list[DoorEvent]:
        with self._state_lock:
            events = list(self._events)
            self._events.clear()
        return events

    # -- internals -------------------------------------------------------------------------

    def _result(self, address: LockAddress, outcome: UnlockOutcome, detail: str) -> UnlockResult:
        level = logging.INFO if outcome is UnlockOutcome.OPENED else logging.WARNING
        log.log(level, "unlock %s: %s (%s)", address, outcome.value, detail)
        return UnlockResult(address, outcome, detail)

    def _settle(self) -> None:
        with contextlib.suppress(BoardError):
            self._transport.wait_quiet(self.config.reply_timeout_s)

    def _set_error(self, board: int, message: str | None) -> None:
        with self._state_lock:
            if message is not None and self._board_errors.get(board) is None:
                log.warning("board %d: %s", board, message)
            self._board_errors[board] = message

    def _expect_open(self, address: LockAddress) -> None:
        until = time.monotonic() + self.config.detection_window_s + 2 * self.config.poll_interval_s
        with self._state_lock:
            self._expected_open[address] = until

    def _emit(self, event: DoorEvent) -> None:
        log.warning("door event %s at %s: %s", event.kind.value, event.address, event.detail)
        with self._state_lock:
            self._events.append(event)
        if self._on_event is not None:
            try:
                self._on_event(event)
            except Exception:  # a listener's bug must not break the polling of the doors
                log.exception("door event listener failed")

    def _observe(self, states: dict[LockAddress, DoorState]) -> dict[LockAddress, DoorState]:
        """Record readings; returns the debounced states (what callers should believe).

        A change from a known state counts only after ``debounce_reads`` equal readings in a
        row (feedback switches bounce); ``UNKNOWN`` (board silent) counts at once.
        """
        now = time.monotonic()
        forced: list[LockAddress] = []
        accepted: dict[LockAddress, DoorState] = {}
        with self._state_lock:
            for address, state in states.items():
                previous = self._known.get(address)
                if state is DoorState.UNKNOWN or previous is None or state is previous:
                    self._streaks.pop(address, None)
                    accepted[address] = state
                else:
                    candidate, count = self._streaks.get(address, (state, 0))
                    count = count + 1 if candidate is state else 1
                    if count >= self.config.debounce_reads:
                        self._streaks.pop(address, None)
                        accepted[address] = state
                    else:
                        self._streaks[address] = (state, count)
                        accepted[address] = previous
                state = accepted[address]
                expected = self._expected_open.get(address, 0.0) >= now
                if state is DoorState.OPEN and previous is DoorState.CLOSED:
                    if expected:
                        del self._expected_open[address]
                    else:
                        forced.append(address)
                if state is not DoorState.UNKNOWN:
                    self._known[address] = state
                self._reported[address] = state
        for address in forced:
            self._emit(
                DoorEvent(
                    address,
                    DoorEventKind.FORCED_OPEN,
                    time.time(),
                    f"locker {self._labels[address]} opened without an unlock command",
                )
            )
        return accepted

    def _poll_board(self, board: int) -> dict[int, DoorState] | None:
        channels = self._channels[board]
        addresses = [LockAddress(board, channel) for channel in channels]
        attempts = 1 + self.config.poll_retries
        wait_for_bus = time.monotonic() + attempts * self.config.reply_timeout_s + 1.0
        error = "the bus stayed busy"
        with self._bus.hold(urgent=False, deadline=wait_for_bus) as got_bus:
            for attempt in range(attempts) if got_bus else ():
                if self._closed:  # never reopen a port that close() released
                    error = "the board is closed"
                    break
                try:
                    self._transport.ensure_open()
                    self._transport.flush_input()
                    states = self._read_board(board, channels)
                except (PortLost, PortUnavailable) as exc:
                    error = exc.message
                    break
                except BoardError as exc:
                    error = exc.message
                    log.debug("board %d poll %d failed: %s", board, attempt + 1, exc.message)
                    self._settle()
                    continue
                self._set_error(board, None)
                readings = {a: states.get(a.channel, DoorState.UNKNOWN) for a in addresses}
                return {a.channel: s for a, s in self._observe(readings).items()}
        self._set_error(board, error)
        self._observe(dict.fromkeys(addresses, DoorState.UNKNOWN))
        return None

    def _confirm(
        self, address: LockAddress, first: DoorState | None, started: float, send_error: str
    ) -> UnlockResult:
        # JAMMED is definitive (a registration is rolled back on it), so it needs an unbroken
        # watch: the door read closed at the pulse (the unlock's reply, or the last reading before
        # it when the reply never carries one) and at every reading of the window. A lost reply
        # (bad CRC, garbage, timeout) is a gap in which the door may have opened, or an open door
        # shut, unseen: UNCONFIRMED, the pulse may have acted (soak finding, issue 17).
        observed = first is not None
        unbroken = not send_error
        if first is not None:
            first = self._observe({address: first})[address]
            if first is DoorState.OPEN:
                return self._result(address, UnlockOutcome.OPENED, "door opened (board reply)")
        window_end = time.monotonic() + self.config.detection_window_s
        while True:
            remaining = window_end - time.monotonic()
            time.sleep(max(0.0, min(self.config.poll_interval_s, remaining)))
            if self._closed:
                break
            states = self._poll_board(address.board)
            state = None if states is None else states.get(address.channel)
            if state is None or state is DoorState.UNKNOWN:
                unbroken = False
            else:
                observed = True
                if state is DoorState.OPEN:
                    elapsed = time.monotonic() - started
                    return self._result(
                        address,
                        UnlockOutcome.OPENED,
                        f"door opened {elapsed:.2f} s after the unlock",
                    )
            if time.monotonic() >= window_end:
                break
        window = f"{self.config.detection_window_s:g} s"
        if observed and unbroken:
            detail = f"pulse sent, but the door did not open within {window}"
            self._emit(DoorEvent(address, DoorEventKind.JAMMED, time.time(), detail))
            return self._result(address, UnlockOutcome.JAMMED, detail)
        reason = send_error or "the board did not answer"
        if observed:
            reason = f"read closed, but with a gap: {reason}"
        return self._result(
            address,
            UnlockOutcome.UNCONFIRMED,
            f"pulse may have been sent; no door feedback within {window} ({reason})",
        )
