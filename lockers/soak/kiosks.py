"""Kiosks as the harness holds them: a board emulator that logs every lock it fires, and the
kiosk itself, either in its own process (SIGKILL-able, restarted by the harness) or in the
harness's process (for service doubles in tests)."""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from lockers.errors import LockersError
from lockers.hardware.emulator import BoardEmulator
from lockers.hardware.emulator.model import EmulatedBoard
from lockers.soak.ops import CommandEvent, Op, OpReport, StartupSummary
from lockers.soak.worker import KioskWorker, ServiceFactory, serve


@dataclass(frozen=True)
class Pulse:
    """One lock fired (a relay's rising edge), seen from the emulator: the physical truth."""

    at: float  # time.monotonic()
    kiosk: int
    board: int
    channel: int
    released: bool  # the door opened (or was still open): whoever stands there can reach in
    was_open: bool = False  # the door was already open: this pulse released nothing itself


class LoggedEmulator:
    """A :class:`BoardEmulator` whose every fired lock is appended to ``pulses``."""

    def __init__(self, kiosk: int, protocol: str, channels: int, link: Path) -> None:
        self.kiosk = kiosk
        self.emulator = BoardEmulator(
            protocol,
            boards=1,
            channels=channels,
            door_close_after_s=0.6,  # longer than the detection window: people take time
            pulse_s=0.05,
            link=link,
        )
        self.pulses: list[Pulse] = []
        self._lock = threading.Lock()
        for board in self.emulator.boards.values():
            self._watch(board)

    def _watch(self, board: EmulatedBoard) -> None:
        original = board.set_relay

        def set_relay(channel: int, on: bool, now: float, off_after_s: float | None = None) -> None:
            lock = board.lock(channel)
            if on and not lock.relay_on:
                with self._lock:
                    self.pulses.append(
                        Pulse(
                            time.monotonic(),
                            self.kiosk,
                            board.address,
                            channel,
                            lock.door_open or not lock.jammed,
                            lock.door_open,
                        )
                    )
            original(channel, on, now, off_after_s)

        board.set_relay = set_relay  # type: ignore[method-assign]

    def take_pulses(self) -> list[Pulse]:
        with self._lock:
            taken, self.pulses = self.pulses, []
        return taken

    @property
    def port(self) -> str:
        return self.emulator.port

    def start(self) -> None:
        self.emulator.start()

    def stop(self) -> None:
        self.emulator.stop()


class KioskDied(Exception):
    """The kiosk process ended during an operation (SIGKILL or a crash)."""


class KioskStartFailed(LockersError):
    """The kiosk could not start (database down, disk full): try again later. A
    :class:`LockersError`: when it happens at set-up, the command says why and exits 2."""


class Kiosk:
    """The interface the runner drives."""

    index: int
    kiosk_id: str
    command_events: list[CommandEvent]  # what its site agent did, not yet taken

    def start(self, sim_s: float = 0.0) -> StartupSummary:  # pragma: no cover - interface
        raise NotImplementedError

    def take_command_events(self) -> list[CommandEvent]:
        taken, self.command_events = self.command_events, []
        return taken

    def drain(self) -> bool:
        """Read what the kiosk sent meanwhile (its agent's command events); False when it
        died (a kill at a command's step lands between ops)."""
        return True

    def submit(self, op: Op) -> None:  # pragma: no cover - interface
        raise NotImplementedError

    def collect(self, timeout_s: float) -> OpReport:  # pragma: no cover - interface
        """The report of the submitted op. Raises KioskDied."""
        raise NotImplementedError

    def kill(self) -> bool:  # pragma: no cover - interface
        """SIGKILL the kiosk now; False when that is not possible (in-process)."""
        raise NotImplementedError

    def kill_during_op(self, delay_s: float, timeout_s: float) -> bool:
        """SIGKILL the kiosk ``delay_s`` after its op reached its first step (the op is inside
        the services), or right away once it answered without any; True when the kill landed
        before the answer."""
        self.kill()
        return False

    def stop(self) -> None:  # pragma: no cover - interface
        raise NotImplementedError

    @property
    def killable(self) -> bool:
        return False

    def steps_seen(self) -> dict[str, float]:
        """Checkpoints the current op passed (also after a kill)."""
        return {}


def _context() -> Any:
    # forkserver: children fork from a clean single-threaded server (the harness runs emulator
    # threads, and fork() from a threaded process may deadlock), with the kiosk code preloaded
    # so a restart costs milliseconds, not an interpreter start.
    ctx = mp.get_context("forkserver")
    ctx.set_forkserver_preload(["lockers.soak.worker"])
    return ctx


class ProcessKiosk(Kiosk):
    """A kiosk in its own process, restarted by :meth:`start` after it died."""

    def __init__(self, index: int, kiosk_id: str, config: Path, seed: int) -> None:
        self.index, self.kiosk_id = index, kiosk_id
        self._config, self._seed = config, seed
        self._ctx = _context()
        self._proc: Any = None
        self._conn: Connection | None = None
        self._steps: dict[str, float] = {}
        self._early: OpReport | None = None  # an answer read while waiting to kill
        self.command_events = []

    @property
    def killable(self) -> bool:
        return True

    def start(self, sim_s: float = 0.0) -> StartupSummary:
        self.stop()
        parent, child = self._ctx.Pipe()
        proc = self._ctx.Process(
            target=serve, args=(child, str(self._config), self._seed, sim_s), daemon=True
        )
        try:
            proc.start()
        except (EOFError, OSError) as exc:  # the forkserver could not fork (or is gone)
            parent.close()
            child.close()
            raise KioskStartFailed(f"{self.kiosk_id} could not be started: {exc!r}") from exc
        child.close()
        self._proc, self._conn = proc, parent
        if not parent.poll(120):
            self.kill()
            raise KioskStartFailed(f"{self.kiosk_id} did not start within 120 s")
        try:
            message = parent.recv()
        except EOFError:
            self._reap()
            raise KioskStartFailed(f"{self.kiosk_id} exited during start-up") from None
        if message[0] != "ready":
            self._reap()
            raise KioskStartFailed(f"{self.kiosk_id}: {message[1]}")
        summary: StartupSummary = message[1]
        return summary

    def _pipe(self) -> Connection:
        if self._conn is None:
            raise KioskDied(f"{self.kiosk_id} is not running")
        return self._conn

    def submit(self, op: Op) -> None:
        self._steps, self._early = {}, None
        # The process may have died since the last drain (its site agent dies at a command's
        # step between ops): the send then fails with EPIPE, and :meth:`collect` reports the
        # death as KioskDied. An EPIPE escaping here would end ``lockers soak`` silently (click
        # takes EPIPE for a closed stdout and exits 1 without a word).
        with contextlib.suppress(OSError):
            self._pipe().send(op)

    def kill_during_op(self, delay_s: float, timeout_s: float) -> bool:
        conn = self._pipe()
        deadline = time.monotonic() + timeout_s
        while self._early is None and not self._steps:
            if not conn.poll(max(0.0, deadline - time.monotonic())):
                break
            try:
                message = conn.recv()
            except (EOFError, OSError):
                break
            if message[0] == "done":
                self._early = message[1]
            else:
                self._note(message)
        if self._early is None:
            time.sleep(delay_s)  # the random moment inside the op
        self.kill()
        return self._early is None

    def collect(self, timeout_s: float) -> OpReport:
        if self._early is not None:
            report, self._early = self._early, None
            return report
        conn = self._pipe()
        deadline = time.monotonic() + timeout_s
        while True:
            if not conn.poll(max(0.0, deadline - time.monotonic())):
                self.kill()
                raise KioskDied(f"{self.kiosk_id} did not answer within {timeout_s:g} s")
            try:
                message = conn.recv()
            except (EOFError, OSError):
                self._reap()
                raise KioskDied(f"{self.kiosk_id} died") from None
            if message[0] == "done":
                report: OpReport = message[1]
                return report
            self._note(message)

    def _note(self, message: tuple[Any, ...]) -> None:
        if message[0] == "step":
            self._steps[message[1]] = message[2]
        elif message[0] == "cmd":
            self.command_events.append(message[1])

    def drain(self) -> bool:
        conn = self._conn
        if conn is None:
            return False
        try:
            while conn.poll(0):
                self._note(conn.recv())
        except (EOFError, OSError):
            self._reap()
            return False
        return self._proc is not None and self._proc.is_alive()

    def steps_seen(self) -> dict[str, float]:
        return dict(self._steps)

    def kill(self) -> bool:
        if self._proc is not None and self._proc.pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self._proc.pid, signal.SIGKILL)
        return True

    def _reap(self) -> None:
        if self._proc is not None:
            self._proc.join(timeout=30)
        if self._conn is not None:
            self._conn.close()
        self._proc = self._conn = None

    def stop(self) -> None:
        if self._proc is None:
            return
        if self._proc.is_alive() and self._conn is not None:
            with contextlib.suppress(OSError):
                self._conn.send(None)
            self._proc.join(timeout=10)
        if self._proc.is_alive():
            self.kill()
        self.drain()  # what its agent did up to its end is still in the pipe
        if self._proc is not None:
            self._reap()


class InProcessKiosk(Kiosk):
    """A kiosk in the harness's own process (cannot be SIGKILLed): for service doubles."""

    def __init__(
        self,
        index: int,
        kiosk_id: str,
        config: Path,
        seed: int,
        service_factory: ServiceFactory | None = None,
    ) -> None:
        self.index, self.kiosk_id = index, kiosk_id
        self._config, self._seed = config, seed
        self._factory = service_factory
        self._worker: KioskWorker | None = None
        self._pending: Op | None = None
        self.command_events = []

    def _on_message(self, message: tuple[Any, ...]) -> None:
        if message[0] == "cmd":
            self.command_events.append(message[1])  # list.append: safe from the agent thread

    def start(self, sim_s: float = 0.0) -> StartupSummary:
        self.stop()
        self._worker = KioskWorker(
            self._config,
            self._seed,
            emit=self._on_message,
            service_factory=self._factory,
            sim_s=sim_s,
        )
        self._worker.start_agent()
        return self._worker.startup

    def submit(self, op: Op) -> None:
        self._pending = op

    def collect(self, timeout_s: float) -> OpReport:
        if self._worker is None or self._pending is None:
            raise KioskDied(f"{self.kiosk_id} has no op to answer (not started?)")
        op, self._pending = self._pending, None
        return self._worker.run(op)

    def kill(self) -> bool:
        return False

    def stop(self) -> None:
        if self._worker is not None:
            self._worker.close()
            self._worker = None


KioskFactory = Callable[[int, str, Path, int], Kiosk]
