"""One serial line (``serial.serial_for_url``): clear open errors, bounded reads, reconnect.

The transport knows bytes and time, not protocols. It is not thread-safe: the driver's bus
arbiter gives it one transaction at a time.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar

import serial

from lockers.backoff import Backoff, BackoffTimer
from lockers.errors import BoardError, BoardTimeout
from lockers.hardware.protocols.framing import FrameError, hex_bytes

try:  # termios.tcflush raises termios.error, not OSError, on a hung-up line
    import termios

    _IO_ERRORS: tuple[type[BaseException], ...] = (serial.SerialException, OSError, termios.error)
except ImportError:  # pragma: no cover - Windows
    _IO_ERRORS = (serial.SerialException, OSError)

log = logging.getLogger("lockers.hardware.wire")
T = TypeVar("T")

_DIALOUT_HINT = (
    "add the kiosk user to the 'dialout' group (sudo usermod -aG dialout $USER, then log in "
    "again), or install scripts/udev/99-lockers-serial.rules"
)


class PortLost(BoardError):
    """The port went away during I/O (USB adapter unplugged); the transport reopens it later."""


class PortUnavailable(BoardError):
    """The port cannot be opened right now (missing, busy, no permission, or backing off)."""


def describe_open_error(url: str, exc: BaseException) -> PortUnavailable:
    """A one-line error naming the port and what to check, for an exception from opening it."""
    code = getattr(exc, "errno", None)
    text = str(exc)
    if code == errno.ENOENT or "No such file" in text:
        return PortUnavailable(
            f"serial port {url} does not exist",
            hint="check board.port in config.yaml (or --port) and that the USB adapter is "
            "plugged in; `lockers board ports` lists the ports this machine has",
        )
    if code in (errno.EACCES, errno.EPERM) or "Permission denied" in text:
        return PortUnavailable(f"no permission to open serial port {url}", hint=_DIALOUT_HINT)
    if code in (errno.EBUSY, errno.EAGAIN) or "exclusively lock" in text:
        return PortUnavailable(
            f"serial port {url} is busy: another program holds it",
            hint=f"close the other program (`fuser -v {url}` names it); is a second kiosk, "
            "`lockers board ...` or ModemManager using the port?",
        )
    if isinstance(exc, ValueError):
        return PortUnavailable(
            f"serial port {url!r} is not a valid port name or URL ({exc})",
            hint="use a device path such as /dev/ttyUSB0, a pyserial URL such as "
            "socket://host:port, or 'emulator'",
        )
    return PortUnavailable(
        f"cannot open serial port {url}: {text}",
        hint="check the cable and adapter, and that the port is a serial device",
    )


class SerialTransport:
    """A reopenable serial line.

    Args:
        url: a device path or pyserial URL.
        baudrate: bits per second; 8 data bits, 1 stop bit and ``parity`` are used.
        reply_timeout_s: default longest wait for a reply.
        quiet_s: line silence that ends a variable-length reply.
        inter_frame_gap_s: minimum time between the end of one exchange and the next write.
        reconnect_initial_s, reconnect_max_s: back-off between reopen attempts: the first wait
            after a loss, doubling with each failed reopen up to the cap
            (:class:`~lockers.backoff.Backoff`).
        exclusive: lock the port (a second opener gets a "busy" error).
    """

    def __init__(
        self,
        url: str,
        *,
        baudrate: int,
        parity: str = "N",
        reply_timeout_s: float = 1.5,
        quiet_s: float = 0.025,
        inter_frame_gap_s: float = 0.005,
        reconnect_initial_s: float = 0.5,
        reconnect_max_s: float = 10.0,
        exclusive: bool = True,
        on_reopen: Callable[[], None] | None = None,
    ) -> None:
        self.url = url
        self.baudrate = baudrate
        self.parity = parity
        self.reply_timeout_s = reply_timeout_s
        self.quiet_s = quiet_s
        self.inter_frame_gap_s = inter_frame_gap_s
        self.reconnect = BackoffTimer(Backoff(reconnect_initial_s, reconnect_max_s))
        self.exclusive = exclusive
        self.on_reopen = on_reopen
        self._serial: Any = None
        self._last_io = 0.0
        self._next_attempt = 0.0
        self._opened_once = False
        self.last_error: BoardError | None = None

    # -- opening ---------------------------------------------------------------------------

    @property
    def is_open(self) -> bool:
        return self._serial is not None

    def open(self) -> None:
        """Open the port now.

        Raises:
            PortUnavailable: missing, busy, no permission or not a serial port (one line + hint).
        """
        if self._serial is not None:
            return
        try:
            port = serial.serial_for_url(
                self.url,
                do_not_open=True,
                baudrate=self.baudrate,
                bytesize=serial.EIGHTBITS,
                parity=self.parity,
                stopbits=serial.STOPBITS_ONE,
                timeout=self.reply_timeout_s,
                write_timeout=self.reply_timeout_s,
            )
            if self.exclusive and hasattr(port, "exclusive"):
                port.exclusive = True
            port.open()
        except (ValueError, *_IO_ERRORS) as exc:
            error = describe_open_error(self.url, exc)
            self.last_error = error
            raise error from None
        self._serial = port
        self.reconnect.reset()
        self._last_io = time.monotonic()
        reopened = self._opened_once
        self._opened_once = True
        log.info("opened %s at %d baud", self.url, self.baudrate)
        if reopened:
            log.warning("serial port %s is back", self.url)
        if self.on_reopen is not None:
            self.on_reopen()

    def ensure_open(self, deadline: float | None = None) -> None:
        """Reopen a lost port, respecting the back-off.

        With a ``deadline`` (``time.monotonic()``), waits for the next attempt if it falls
        before the deadline; otherwise fails at once while backing off.

        Raises:
            PortUnavailable: the port cannot be opened (yet).
        """
        if self._serial is not None:
            return
        now = time.monotonic()
        if now < self._next_attempt:
            if deadline is None or self._next_attempt > deadline:
                wait = self._next_attempt - now
                reason = self.last_error.message if self.last_error else "port lost"
                raise PortUnavailable(
                    f"serial port {self.url} is unavailable ({reason}); next reopen attempt "
                    f"in {wait:.1f} s",
                    hint="plug the USB adapter back in; the driver reconnects by itself",
                )
            time.sleep(self._next_attempt - now)
        try:
            self.open()
        except PortUnavailable:
            self._next_attempt = time.monotonic() + self.reconnect.next_delay()
            raise

    def close(self) -> None:
        """Close the port (safe to call twice)."""
        port, self._serial = self._serial, None
        if port is not None:
            # A vanished device may fail to close; it is gone either way.
            with contextlib.suppress(*_IO_ERRORS):
                port.close()

    def _lost(self, exc: BaseException) -> PortLost:
        self.close()
        self._next_attempt = time.monotonic() + self.reconnect.next_delay()
        error = PortLost(
            f"serial port {self.url} was lost ({exc})",
            hint="check the USB cable; the driver reopens the port when it is back",
        )
        self.last_error = error
        log.warning("%s", error.message)
        return error

    def _port(self) -> Any:
        if self._serial is None:
            raise PortUnavailable(f"serial port {self.url} is not open")
        return self._serial

    # -- I/O -------------------------------------------------------------------------------

    def flush_input(self) -> bytes:
        """Drop bytes that arrived unasked (stale replies, noise); returns them for the log.

        Raises:
            PortLost: the device went away.
        """
        port = self._port()
        try:
            waiting = port.in_waiting
            stale = port.read(waiting) if waiting else b""
            port.reset_input_buffer()
        except _IO_ERRORS as exc:
            raise self._lost(exc) from None
        if stale:
            log.debug("%s dropped stale input: %s", self.url, hex_bytes(stale))
        return bytes(stale)

    def write(self, data: bytes) -> None:
        """Send one frame after the inter-frame gap.

        Raises:
            PortLost: the device went away (the frame may or may not have left).
        """
        port = self._port()
        wait = self._last_io + self.inter_frame_gap_s - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        log.debug("%s TX %s", self.url, hex_bytes(data))
        try:
            port.write(data)
            port.flush()
        except _IO_ERRORS as exc:
            raise self._lost(exc) from None
        self._last_io = time.monotonic()

    def _read_some(self, timeout_s: float) -> bytes:
        port = self._port()
        try:
            port.timeout = max(0.0, timeout_s)
            first = port.read(1)
            if not first:
                return b""
            waiting = port.in_waiting
            rest = port.read(waiting) if waiting else b""
        except _IO_ERRORS as exc:
            raise self._lost(exc) from None
        self._last_io = time.monotonic()
        return bytes(first + rest)

    def read_frame(
        self,
        find: Callable[[bytes], tuple[T | None, str]],
        *,
        what: str,
        timeout_s: float | None = None,
        min_length: int = 1,
    ) -> T:
        """Read until ``find(buffer)`` returns a value.

        ``find`` returns ``(value, "")`` once a valid frame is in the buffer, else
        ``(None, why)``. Reading stops early when at least ``min_length`` bytes arrived and the
        line then stayed quiet for ``quiet_s`` without a valid frame (garbage, bad checksum).

        Raises:
            BoardTimeout: nothing arrived within the timeout.
            FrameError: bytes arrived but never formed a valid frame (message says why).
            PortLost: the device went away.
        """
        timeout_s = self.reply_timeout_s if timeout_s is None else timeout_s
        deadline = time.monotonic() + timeout_s
        buffer = b""
        why = ""
        while True:
            remaining = deadline - time.monotonic()
            if len(buffer) >= min_length:
                remaining = min(remaining, self.quiet_s)
            chunk = self._read_some(remaining) if remaining > 0 else b""
            if chunk:
                buffer += chunk
                log.debug("%s RX %s", self.url, hex_bytes(chunk))
                value, why = find(buffer)
                if value is not None:
                    return value
                continue
            if not buffer:
                raise BoardTimeout(
                    f"{what} did not answer within {timeout_s:g} s on {self.url}",
                    hint="check the board's power, address (DIP switches), baud rate and "
                    "RS-485 A/B wiring",
                )
            if len(buffer) >= min_length or time.monotonic() >= deadline:
                raise FrameError(
                    f"{what} sent an invalid reply on {self.url}: {why or 'unrecognised bytes'} "
                    f"(received {hex_bytes(buffer[:64])})",
                    hint="check the protocol and baud rate in config.yaml, and for noise or a "
                    "second device on the bus",
                )

    def read_until_quiet(self, *, what: str, timeout_s: float | None = None) -> bytes:
        """Everything that arrives until the line is quiet for ``quiet_s`` (variable length).

        Raises:
            BoardTimeout: nothing arrived within the timeout.
            PortLost: the device went away.
        """
        timeout_s = self.reply_timeout_s if timeout_s is None else timeout_s
        deadline = time.monotonic() + timeout_s
        buffer = b""
        while True:
            remaining = deadline - time.monotonic()
            if buffer:
                remaining = min(max(remaining, 0.0), self.quiet_s)
            elif remaining <= 0:
                raise BoardTimeout(
                    f"{what} did not answer within {timeout_s:g} s on {self.url}",
                    hint="check the board's power, address (DIP switches), baud rate and wiring",
                )
            chunk = self._read_some(remaining)
            if chunk:
                buffer += chunk
                log.debug("%s RX %s", self.url, hex_bytes(chunk))
            elif buffer:
                return buffer

    def wait_quiet(self, max_s: float) -> None:
        """After a failure: let the line fall silent (up to ``max_s``), then flush."""
        deadline = time.monotonic() + max_s
        while time.monotonic() < deadline:
            if not self._read_some(min(self.quiet_s, deadline - time.monotonic())):
                break
        self.flush_input()
