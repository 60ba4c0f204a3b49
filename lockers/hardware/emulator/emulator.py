"""A lock board on a pseudo-terminal, byte for byte, with doors and injectable faults.

``with BoardEmulator("kerong", boards=2) as emu:`` opens a pty pair (``pty.openpty``), serves
the protocol on the master side from a background thread, and exposes ``emu.port``: a stable
symlink to the slave side that a driver (or ``--port``) opens like ``/dev/ttyUSB0``. "Unplugging"
closes the pty and removes the link; "replugging" makes a new pty behind the same link, as udev's
``/dev/serial/by-id`` links behave.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pty
import select
import shutil
import tempfile
import threading
import time
import tty
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from types import TracebackType

from lockers.hardware.emulator.commands import COMMANDS_HELP, run_command
from lockers.hardware.emulator.handlers import FIRST_ADDRESS, HANDLERS, Reply
from lockers.hardware.emulator.model import EmulatedBoard
from lockers.hardware.protocols.framing import hex_bytes

log = logging.getLogger("lockers.hardware.emulator")

__all__ = ["COMMANDS_HELP", "BoardEmulator"]

_STALE_PARTIAL_S = 0.1  # a half request older than this is noise: a board's UART would drop it
_IDLE_WAKE_S = 0.02


class BoardEmulator:
    """Emulated lock/relay boards behind one serial port.

    Args:
        protocol: ``lcus``, ``modbus``, ``kerong`` or ``xor``.
        boards: how many boards, numbered from the protocol's first address (kerong 0,
            modbus/xor 1, lcus 0 and only one); ignored when ``addresses`` is given.
        addresses: explicit board addresses.
        channels: locks/relays per board (default: the protocol's usual board size).
        door_close_after_s: an opened door is closed again ("by a person") after this.
        door_open_delay_s: time from the pulse until the door reports open.
        feedback_invert: report feedback with the opposite polarity (to test ``feedback_invert``).
        unlock_reply_delay_s: the XOR board's delay before answering an unlock (real: 0.5-1 s).
        pulse_s: how long kerong/xor boards energise a lock.
        link: path of the port symlink to create (default: in a private temporary folder).

    Raises:
        ValueError: unknown protocol or impossible board layout.
    """

    def __init__(
        self,
        protocol: str,
        *,
        boards: int = 1,
        addresses: Sequence[int] | None = None,
        channels: int | None = None,
        door_close_after_s: float = 3.0,
        door_open_delay_s: float = 0.0,
        feedback_invert: bool = False,
        unlock_reply_delay_s: float | None = None,
        pulse_s: float = 0.2,
        link: str | os.PathLike[str] | None = None,
    ) -> None:
        handler_type = HANDLERS.get(protocol)
        if handler_type is None:
            raise ValueError(f"unknown protocol {protocol!r}; use one of {', '.join(HANDLERS)}")
        if addresses is None:
            first = FIRST_ADDRESS[protocol]
            addresses = list(range(first, first + boards))
        if protocol == "lcus" and list(addresses) != [0]:
            raise ValueError("an LCUS module has no bus address: exactly one board, address 0")
        if not addresses:
            raise ValueError("at least one board is needed")
        channels = channels or handler_type.default_channels
        self.protocol = protocol
        self.boards = {
            a: EmulatedBoard(a, channels, door_open_delay_s, door_close_after_s) for a in addresses
        }
        self._handler = handler_type(self.boards, feedback_invert=feedback_invert)
        self._handler.pulse_s = pulse_s
        if unlock_reply_delay_s is not None:
            self._handler.unlock_reply_delay_s = unlock_reply_delay_s
        self._lock = threading.RLock()
        # Notified at each turn of the serving loop, request and reply (see wait_until).
        self._changed = threading.Condition(self._lock)
        self._replies_sent = 0
        self._pending: list[tuple[float, Reply]] = []
        self._buffer = bytearray()
        self._last_rx = 0.0
        self._reply_delay_s = 0.0
        self._corrupt_left = 0
        self._corrupted_sent = 0
        self._garbage_left = 0
        self._garbage = b"\x55\xaa\x00"
        self.requests_bytes = 0
        self._master: int | None = None
        self._slave: int | None = None
        self._own_dir: str | None = None
        self._link = Path(link) if link is not None else None
        self._plugged = True
        self._applied = threading.Event()
        self._stop = threading.Event()
        self._wake_r, self._wake_w = -1, -1
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------

    @property
    def port(self) -> str:
        """The path a driver opens (a symlink to the current pty slave)."""
        if self._link is None:
            raise RuntimeError("the emulator is not started")
        return str(self._link)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> BoardEmulator:
        """Create the pty and start serving in a background thread."""
        if self._thread is not None:
            return self
        if self._link is None:
            self._own_dir = tempfile.mkdtemp(prefix="lockers-emu-")
            self._link = Path(self._own_dir) / f"tty-{self.protocol}"
        self._wake_r, self._wake_w = os.pipe()
        self._open_pty()
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=f"board-emulator-{self.protocol}")
        self._thread.start()
        log.info("emulating %s boards %s on %s", self.protocol, sorted(self.boards), self.port)
        return self

    def stop(self) -> None:
        """Stop serving, close the pty and remove the link (safe to call twice)."""
        thread, self._thread = self._thread, None
        if thread is not None:
            self._stop.set()
            self._wake()
            thread.join()
        self._close_pty()
        for fd in (self._wake_r, self._wake_w):
            if fd >= 0:
                os.close(fd)
        self._wake_r = self._wake_w = -1
        if self._own_dir is not None:
            shutil.rmtree(self._own_dir, ignore_errors=True)
            self._own_dir = None

    def __enter__(self) -> BoardEmulator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _open_pty(self) -> None:
        master, slave = pty.openpty()
        tty.setraw(slave)  # no echo, no line editing: bytes pass unchanged
        os.set_blocking(master, False)
        self._master, self._slave = master, slave
        link = self._link
        if link is None:
            raise RuntimeError("the emulator has no port link: call start() first")
        temporary = link.with_name(link.name + ".new")
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()
        temporary.symlink_to(os.ttyname(slave))
        temporary.replace(link)

    def _close_pty(self) -> None:
        if self._link is not None:
            with contextlib.suppress(FileNotFoundError):
                self._link.unlink()
        for fd in (self._master, self._slave):
            if fd is not None:
                os.close(fd)
        self._master = self._slave = None
        self._buffer.clear()
        self._pending.clear()

    def _wake(self) -> None:
        if self._wake_w >= 0:
            with contextlib.suppress(OSError):
                os.write(self._wake_w, b"x")

    # -- faults and inspection (thread-safe) -------------------------------------------------

    def _targets(self, board: int | None) -> Iterable[EmulatedBoard]:
        return self.boards.values() if board is None else [self.boards[board]]

    def jam(self, board: int, channel: int, jammed: bool = True) -> None:
        """The lock's latch never releases: pulses do not open the door."""
        with self._lock:
            self.boards[board].lock(channel).jammed = jammed

    def force_open(self, board: int, channel: int) -> None:
        """The door opens with no command; it closes again after ``door_close_after_s``."""
        with self._lock:
            self.boards[board].force_open(channel, time.monotonic())

    def set_door(self, board: int, channel: int, is_open: bool) -> None:
        """Set a door open or closed now (no automatic closing)."""
        with self._lock:
            lock = self.boards[board].lock(channel)
            lock.door_open, lock.door_open_at, lock.door_close_at = is_open, None, None

    def set_offline(self, offline: bool = True, board: int | None = None) -> None:
        """The board (all boards with ``None``) hears nothing and answers nothing."""
        with self._lock:
            for target in self._targets(board):
                target.offline = offline

    def set_mute(self, mute: bool = True, board: int | None = None) -> None:
        """The board acts on commands but its replies are lost."""
        with self._lock:
            for target in self._targets(board):
                target.mute = mute

    def set_reply_delay(self, delay_s: float) -> None:
        """Every reply is sent this much later (a late reply)."""
        with self._lock:
            self._reply_delay_s = delay_s

    def corrupt_replies(self, count: int = 1) -> None:
        """The next ``count`` replies get their last (checksum) byte flipped; -1 = all."""
        with self._lock:
            self._corrupt_left = count

    def garbage_replies(self, count: int = 1, data: bytes = b"\x55\xaa\x00") -> None:
        """The next ``count`` replies are preceded by ``data`` (line noise); -1 = all."""
        with self._lock:
            self._garbage_left, self._garbage = count, data

    def unplug(self) -> None:
        """The USB adapter vanishes: the pty closes and the port path disappears."""
        self._set_plugged(False)

    def replug(self) -> None:
        """The adapter comes back on the same path (a new pty behind the link)."""
        self._set_plugged(True)

    def _set_plugged(self, plugged: bool) -> None:
        if self._thread is None:
            raise RuntimeError("the emulator is not started")
        with self._lock:
            self._plugged = plugged
            self._applied.clear()
        self._wake()
        self._applied.wait(timeout=5.0)

    def door_open(self, board: int, channel: int) -> bool:
        with self._lock:
            return self.boards[board].lock(channel).door_open

    def relay_on(self, board: int, channel: int) -> bool:
        with self._lock:
            return self.boards[board].lock(channel).relay_on

    def door_opens(self, board: int, channel: int) -> int:
        """How many times the door went from closed to open since start."""
        with self._lock:
            return self.boards[board].lock(channel).opens

    @property
    def corrupted_replies_sent(self) -> int:
        """How many replies went out with a flipped checksum byte since start."""
        with self._lock:
            return self._corrupted_sent

    @property
    def replies_sent(self) -> int:
        """How many replies were written to the port since start."""
        with self._lock:
            return self._replies_sent

    def wait_until(self, predicate: Callable[[], bool], timeout_s: float = 5.0) -> bool:
        """Wait until ``predicate()`` holds, re-checked each time the model's time moves, a
        request arrives or a reply leaves; ``False`` on timeout. Tests wait on it, never sleep."""
        with self._changed:
            return self._changed.wait_for(predicate, timeout_s)

    def pulse_count(self, board: int, channel: int) -> int:
        """How many times the lock was fired (relay rising edges) since start."""
        with self._lock:
            return self.boards[board].lock(channel).pulses

    def command(self, line: str) -> str:
        """Run one fault-injection command typed at ``lockers board emulate``; returns a reply.

        Commands: :data:`COMMANDS_HELP` (B = board address, C = channel, N = reply count,
        -1 = every reply).
        """
        return run_command(self, line)

    def describe(self) -> str:
        """One line per board: open doors, jammed locks, offline/mute flags."""
        lines = []
        with self._lock:
            for board in self.boards.values():
                opened = [i for i, lock in enumerate(board.locks, 1) if lock.door_open]
                jammed = [i for i, lock in enumerate(board.locks, 1) if lock.jammed]
                flags = " offline" if board.offline else ""
                flags += " mute" if board.mute else ""
                lines.append(
                    f"board {board.address}: open {opened or '-'} jammed {jammed or '-'}{flags}"
                )
        return "\n".join(lines)

    # -- the serving loop ------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.is_set():
            now = time.monotonic()
            with self._lock:
                self._apply_plug_state()
                for board in self.boards.values():
                    board.tick(now)
                due = [reply for when, reply in self._pending if when <= now]
                self._pending = [(when, r) for when, r in self._pending if when > now]
                next_times = [when for when, _ in self._pending] + [
                    t for b in self.boards.values() if (t := b.next_event()) is not None
                ]
                self._changed.notify_all()
            for reply in due:
                self._send(reply)
            timeout = min([_IDLE_WAKE_S, *(t - now for t in next_times)])
            master = self._master
            watched = [self._wake_r] if master is None else [self._wake_r, master]
            ready, _, _ = select.select(watched, [], [], max(0.0, timeout))
            if self._wake_r in ready:
                os.read(self._wake_r, 4096)
            if master is not None and master in ready:
                self._receive(master)
            if self._buffer and time.monotonic() - self._last_rx > _STALE_PARTIAL_S:
                log.debug("dropping partial request %s", hex_bytes(self._buffer))
                self._buffer.clear()

    def _apply_plug_state(self) -> None:
        if self._plugged and self._master is None:
            self._open_pty()
            log.info("port %s is back", self.port)
        elif not self._plugged and self._master is not None:
            self._close_pty()
            log.info("port %s vanished", self.port)
        self._applied.set()

    def _receive(self, master: int) -> None:
        try:
            data = os.read(master, 4096)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:  # EIO: no slave side open at this instant
            return
        now = time.monotonic()
        log.debug("emulator RX %s", hex_bytes(data))
        with self._lock:
            self._last_rx = now
            self._buffer += data
            self.requests_bytes += len(data)
            self._changed.notify_all()
            replies = self._handler.feed(self._buffer, now)
            for reply in replies:
                board = self.boards.get(reply.board)
                if board is not None and board.mute:
                    continue
                self._pending.append((now + reply.delay_s + self._reply_delay_s, reply))

    def _send(self, reply: Reply) -> None:
        with self._lock:
            data = reply.build()
            if self._corrupt_left:
                data = data[:-1] + bytes([data[-1] ^ 0xFF])
                self._corrupted_sent += 1
                self._corrupt_left -= 1 if self._corrupt_left > 0 else 0
            if self._garbage_left:
                data = self._garbage + data
                self._garbage_left -= 1 if self._garbage_left > 0 else 0
            master = self._master
        if master is None:
            return
        log.debug("emulator TX %s", hex_bytes(data))
        with contextlib.suppress(OSError):  # nobody reading and the buffer full: the reply is lost
            os.write(master, data)
        with self._lock:
            self._replies_sent += 1
            self._changed.notify_all()
