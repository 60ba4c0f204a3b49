"""A soak kiosk's part in its site: the real site agent (heartbeat + command executor, LISTEN
on PostgreSQL) on a thread of the kiosk process, so a SIGKILL can land while a command is
claimed or running.

The executor is the real one; the soak only watches it: every command it starts and ends, and
every service checkpoint it passes, goes to the harness as a :class:`CommandEvent` (the
ledger attributes the emulator's pulses to commands with them), and a kill armed by the harness
(``Op.die_at_command``) SIGKILLs the process at the named step of the next command.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from typing import Any

from lockers.errors import LockersError
from lockers.hardware.board import LockBoard
from lockers.kiosk.presence import KioskPresence
from lockers.kiosk.site_agent import SiteAgent
from lockers.kiosk.site_executor import ClaimedCommand, CommandExecutor, CommandRun
from lockers.soak.ops import CommandEvent
from lockers.store.db import Database

log = logging.getLogger(__name__)

POLL_S = 0.25  # the agent's polling interval (on PostgreSQL a NOTIFY wakes it at once)
RETRY_AFTER_ERROR_S = 0.5

Emit = Callable[[tuple[Any, ...]], None]


class WatchedExecutor(CommandExecutor):
    """The real executor; each command it runs is announced before and after (tests subclass
    it to break it on purpose)."""

    on_command: Callable[[ClaimedCommand | None, CommandRun | None], None]

    def _run(self, command: ClaimedCommand) -> CommandRun:
        self.on_command(command, None)
        run = super()._run(command)
        self.on_command(None, run)
        return run


class SoakSiteAgent:
    """The site agent of one soak kiosk process, on a thread of its own (see the module
    docstring). ``emit`` must be safe to call from any thread."""

    def __init__(
        self,
        database: Database,
        board: LockBoard,
        presence: KioskPresence,
        clock: Callable[[], Any],
        emit: Emit,
        executor_class: type[WatchedExecutor] | None = None,
    ) -> None:
        self._emit = emit
        self._current: ClaimedCommand | None = None
        self.die_at: str | None = None  # armed by the harness for the next command
        executor = (executor_class or WatchedExecutor)(
            database,
            board,
            kiosk_id=presence.kiosk_id,
            instance=presence.instance,
            clock=clock,
            checkpoint=self._checkpoint,
        )
        executor.on_command = self._on_command
        self.agent = SiteAgent(presence, executor)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="soak-site-agent", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _send(self, what: str, command: ClaimedCommand, result: str = "") -> None:
        event = CommandEvent(
            command.id,
            what,
            time.monotonic(),
            command.action.value,
            command.locker_label,
            result,
        )
        self._emit(("cmd", event))

    def _on_command(self, command: ClaimedCommand | None, run: CommandRun | None) -> None:
        if command is not None:
            self._current = command
            self._send("begin", command)
        elif run is not None:
            self._current = None
            self._send("end", run.command, run.result.value)

    def _checkpoint(self, step: str) -> None:
        command = self._current
        if command is not None:
            self._send(step, command)
        if self.die_at == step:
            os.kill(os.getpid(), signal.SIGKILL)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.agent.run(self._stop, POLL_S)
            except LockersError as exc:  # replaced by another process: the ledger will tell
                log.warning("soak site agent: %s", exc.message)
                self._stop.wait(RETRY_AFTER_ERROR_S)
            except Exception:  # a bug must not end the kiosk's commands for good (as the app)
                log.exception("soak site agent failed; retrying")
                self._stop.wait(RETRY_AFTER_ERROR_S)

    def close(self) -> None:
        """Stop the loop, sign off (the kiosk is offline at once) and join."""
        self._stop.set()
        self.agent.close()
        if self._thread.ident is not None:
            self._thread.join(timeout=10.0)
