"""What every driver shares: timeouts, the bus arbiter, logging and the unlock discipline.

A protocol driver implements only the exchange of bytes (:meth:`SerialBoard._send_unlock`,
:meth:`SerialBoard._read_board`); this class decides what an exchange means
(docs/protocols.md, "What an unlock's outcome means"):

- a transaction starts with stale input flushed, and after a failure the line is let go quiet;
- one transaction at a time; unlocks go ahead of polls; an unlock that cannot get the bus or the
  port within ``unlock_expiry_s`` is dropped (``NOT_SENT``), never queued and replayed late;
- an unlock is written once: an error after the write means "may have reached the wire", never
  a retry. Only polls are retried;
- after a pulse the feedback is polled every ``poll_interval_s`` for ``detection_window_s``:
  ``OPENED`` as soon as the door reads open; ``JAMMED`` only when every exchange after the pulse
  came back valid and none showed the door open; anything less (a garbled or missing reply, a
  poll that failed) leaves a gap in which the door may have opened: ``UNCONFIRMED``;
- a board that does not answer makes its doors ``UNKNOWN``; a door seen going from closed to open
  with no unlock command is reported as a ``FORCED_OPEN`` event (:mod:`.doors`).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from lockers.config.hardware import BoardConfig, LockerConfig
from lockers.errors import BoardError
from lockers.hardware.board import (
    DoorEvent,
    DoorEventKind,
    DoorState,
    LockAddress,
    LockBoard,
    UnlockOutcome,
    UnlockResult,
)
from lockers.hardware.boards.addresses import AddressMap, AddressRules
from lockers.hardware.boards.bus import BusArbiter
from lockers.hardware.boards.doors import DoorTracker, EventCallback
from lockers.hardware.transport import PortLost, PortUnavailable, SerialTransport

if TYPE_CHECKING:
    from lockers.hardware.emulator import BoardEmulator

log = logging.getLogger("lockers.hardware")

__all__ = ["EventCallback", "PulseRefused", "SerialBoard", "log"]


class PulseRefused(BoardError):
    """The board answered the unlock with a refusal: the lock was provably not pulsed."""


@dataclass(frozen=True)
class _Pulse:
    """What the unlock exchange itself told: the door state in the reply, or why it failed."""

    first: DoorState | None
    error: str = ""


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
        rules = AddressRules(
            self.protocol, self.board_range, self.channel_range, self._board_hint()
        )
        self._map = AddressMap(lockers, rules)
        self._channels = self._map.channels  # drivers address their boards through this
        self._doors = DoorTracker(
            self._map.labels,
            self._map.boards,
            debounce_reads=config.debounce_reads,
            on_event=on_event,
        )
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
        self._closers: list[Callable[[], None]] = []
        self._closed = False
        self._close_lock = threading.Lock()
        self.emulator: BoardEmulator | None = None  # set when port is "emulator" (demo mode)

    @classmethod
    def _board_hint(cls) -> str:
        return "set the locker's board: to the address set on the board (DIP switches)"

    @property
    def addresses(self) -> list[LockAddress]:
        """Every configured lock, sorted by board then channel."""
        return self._map.addresses

    def label(self, address: LockAddress) -> str:
        """The locker label wired to ``address`` (KeyError if none)."""
        return self._map.label(address)

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
        """Release the port and run the closers (newest first); safe to call twice.

        A transaction in progress is let finish rather than cut a frame in half. If it holds
        the bus longer than a transaction can take, the port is left to it: whoever holds the
        bus closes the port when it lets go (:meth:`_exchange`). A closer that raises is logged
        and the others still run.
        """
        with self._close_lock:
            if self._closed:
                return
            self._closed = True
        deadline = time.monotonic() + self._longest_transaction_s()
        with self._exchange(urgent=True, deadline=deadline) as got_bus:
            if not got_bus:
                log.warning("%s: a transaction still holds the bus; it closes the port", self.port)
        while self._closers:
            closer = self._closers.pop()
            try:
                closer()
            except Exception:  # the remaining closers must still run
                log.exception("%s: a closer failed while closing the board", self.port)

    def _longest_transaction_s(self) -> float:
        """An upper bound on one bus hold: a host-timed pulse, its reply, the settle, retries."""
        replies = 2 + self.config.poll_retries
        return self.config.pulse_ms / 1000 + replies * self.config.reply_timeout_s + 0.5

    @contextlib.contextmanager
    def _exchange(self, *, urgent: bool, deadline: float) -> Iterator[bool]:
        """Hold the bus (see :meth:`BusArbiter.hold`); the port is closed on the way out if
        the board was closed meanwhile, so that only a bus holder ever touches the port."""
        with self._bus.hold(urgent=urgent, deadline=deadline) as got_bus:
            try:
                yield got_bus
            finally:
                if got_bus and self._closed:
                    self._transport.close()

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
        if address not in self._map:
            return self._result(
                address, UnlockOutcome.NOT_SENT, f"no locker is configured at {address}"
            )
        started = time.monotonic()
        pulse = self._pulse(address, started + self.config.unlock_expiry_s)
        if isinstance(pulse, UnlockResult):
            return pulse
        if not self.has_door_feedback:
            detail = pulse.error or f"pulse sent; {self.protocol} boards have no door sensor"
            return self._result(address, UnlockOutcome.UNCONFIRMED, detail)
        return self._confirm(address, pulse, started)

    def door_states(self) -> dict[LockAddress, DoorState]:
        """Poll every board once; a board that does not answer makes its doors ``UNKNOWN``."""
        if not self._closed:
            for board in self._map.boards:
                self._poll_board(board)
        return self._doors.reported(self.addresses)

    def healthy(self) -> bool:
        return self._transport.is_open and self._doors.all_answered()

    def board_errors(self) -> dict[int, str | None]:
        """Board address -> why its last exchange failed (``None`` when it succeeded)."""
        return self._doors.board_errors()

    def poll_events(self) -> list[DoorEvent]:
        return self._doors.drain_events()

    # -- internals -------------------------------------------------------------------------

    def _result(self, address: LockAddress, outcome: UnlockOutcome, detail: str) -> UnlockResult:
        level = logging.INFO if outcome is UnlockOutcome.OPENED else logging.WARNING
        log.log(level, "unlock %s: %s (%s)", address, outcome.value, detail)
        return UnlockResult(address, outcome, detail)

    def _settle(self) -> None:
        with contextlib.suppress(BoardError):
            self._transport.wait_quiet(self.config.reply_timeout_s)

    def _pulse(self, address: LockAddress, deadline: float) -> _Pulse | UnlockResult:
        """The unlock exchange: a ``NOT_SENT`` result, or what the board's reply told."""
        with self._exchange(urgent=True, deadline=deadline) as got_bus:
            if self._closed:
                return self._result(address, UnlockOutcome.NOT_SENT, "the board is closed")
            if not got_bus:
                expiry = f"{self.config.unlock_expiry_s:g} s"
                detail = f"expired: the bus stayed busy for {expiry}"
                return self._result(address, UnlockOutcome.NOT_SENT, detail)
            try:
                self._transport.ensure_open(deadline)
                self._transport.flush_input()
            except BoardError as exc:
                self._doors.set_error(address.board, exc.message)
                return self._result(address, UnlockOutcome.NOT_SENT, exc.message)
            window = self.config.detection_window_s + 2 * self.config.poll_interval_s
            self._doors.expect_open(address, window)
            log.info("pulse %s (locker %s)", address, self._map.label(address))
            try:
                return _Pulse(self._send_unlock(address))
            except PulseRefused as exc:
                self._doors.set_error(address.board, exc.message)
                return self._result(address, UnlockOutcome.NOT_SENT, exc.message)
            except BoardError as exc:
                # The frame may have left: never re-sent; the feedback decides.
                self._doors.set_error(address.board, exc.message)
                self._settle()
                return _Pulse(None, exc.message)

    def _poll_board(self, board: int) -> dict[int, DoorState] | None:
        """One status poll of ``board`` (retried); ``None`` when it did not answer validly."""
        addresses = self._map.on_board(board)
        attempts = 1 + self.config.poll_retries
        wait_for_bus = time.monotonic() + attempts * self.config.reply_timeout_s + 1.0
        error = "the bus stayed busy"
        with self._exchange(urgent=False, deadline=wait_for_bus) as got_bus:
            for attempt in range(attempts) if got_bus else ():
                if self._closed:  # never reopen a port that close() released
                    error = "the board is closed"
                    break
                try:
                    self._transport.ensure_open()
                    self._transport.flush_input()
                    states = self._read_board(board, self._channels[board])
                except (PortLost, PortUnavailable) as exc:
                    error = exc.message
                    break
                except BoardError as exc:
                    error = exc.message
                    log.debug("board %d poll %d failed: %s", board, attempt + 1, exc.message)
                    self._settle()
                    continue
                self._doors.set_error(board, None)
                readings = {a: states.get(a.channel, DoorState.UNKNOWN) for a in addresses}
                return {a.channel: s for a, s in self._doors.observe(readings).items()}
        self._doors.set_error(board, error)
        self._doors.observe(dict.fromkeys(addresses, DoorState.UNKNOWN))
        return None

    def _confirm(self, address: LockAddress, pulse: _Pulse, started: float) -> UnlockResult:
        """Watch the door for the detection window after the pulse; see the module docstring."""
        gaps = [pulse.error] if pulse.error else []
        seen_closed = False
        if pulse.first is not None:
            first = self._doors.observe({address: pulse.first})[address]
            if first is DoorState.OPEN:
                return self._result(address, UnlockOutcome.OPENED, "door opened (board reply)")
            seen_closed = first is DoorState.CLOSED
        window_end = time.monotonic() + self.config.detection_window_s
        while True:
            remaining = window_end - time.monotonic()
            time.sleep(max(0.0, min(self.config.poll_interval_s, remaining)))
            if self._closed:
                gaps.append("the board was closed during the detection window")
                break
            states = self._poll_board(address.board)
            state = DoorState.UNKNOWN if states is None else states[address.channel]
            if state is DoorState.OPEN:
                elapsed = time.monotonic() - started
                detail = f"door opened {elapsed:.2f} s after the unlock"
                return self._result(address, UnlockOutcome.OPENED, detail)
            if state is DoorState.CLOSED:
                seen_closed = True
            else:
                gaps.append(self._doors.error_of(address.board) or "no reading of the door")
            if time.monotonic() >= window_end:
                break
        return self._conclude(address, seen_closed, gaps)

    def _conclude(self, address: LockAddress, seen_closed: bool, gaps: list[str]) -> UnlockResult:
        """JAMMED only for a door watched without a gap; else UNCONFIRMED with the reasons."""
        window = f"{self.config.detection_window_s:g} s"
        if seen_closed and not gaps:
            detail = f"pulse sent, but the door did not open within {window}"
            self._doors.emit(DoorEvent(address, DoorEventKind.JAMMED, time.time(), detail))
            return self._result(address, UnlockOutcome.JAMMED, detail)
        reasons = "; ".join(dict.fromkeys(gaps)) or "the board did not answer"
        if seen_closed:
            detail = (
                f"pulse may have acted; the door was not seen open within {window}, but not "
                f"every reading came through, so it may have opened unseen ({reasons})"
            )
        else:
            detail = f"pulse may have been sent; no door feedback within {window} ({reasons})"
        return self._result(address, UnlockOutcome.UNCONFIRMED, detail)
