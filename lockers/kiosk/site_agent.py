"""The kiosk's part in its site, behind one small facade for the app: heartbeat and the
commands staff at other kiosks sent for this kiosk's bank.

On the kiosk's service thread call :meth:`SiteAgent.poll_commands` about every second (it beats
when ``site.heartbeat_s`` has passed and runs whatever commands are pending; it does not wait).
A kiosk that wants commands to arrive within milliseconds on PostgreSQL runs :meth:`run` on a
thread of its own instead: it sleeps on the ``LISTEN/NOTIFY`` listener between polls.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime

from lockers.errors import StoreError
from lockers.hardware.board import LockBoard
from lockers.kiosk.presence import KioskPresence
from lockers.kiosk.site_executor import CommandExecutor, CommandRun
from lockers.kiosk.unlocking import Checkpoint, no_checkpoint
from lockers.store.db import Database
from lockers.store.models import utcnow
from lockers.store.site import KioskReplacedError
from lockers.store.site_commands import COMMANDS_CHANNEL
from lockers.store.site_listen import CommandListener

log = logging.getLogger(__name__)


class SiteAgent:
    """Presence + command executor of one kiosk process (see the module docstring)."""

    def __init__(self, presence: KioskPresence, executor: CommandExecutor) -> None:
        self.presence = presence
        self.executor = executor
        self._listener: CommandListener | None = None

    @classmethod
    def create(
        cls,
        database: Database,
        board: LockBoard | None,
        presence: KioskPresence,
        *,
        clock: Callable[[], datetime] = utcnow,
        checkpoint: Checkpoint = no_checkpoint,
    ) -> SiteAgent:
        """The agent of a registered ``presence`` (``Store.presence`` after ``start_store``)."""
        executor = CommandExecutor(
            database,
            board,
            kiosk_id=presence.kiosk_id,
            instance=presence.instance,
            clock=clock,
            checkpoint=checkpoint,
        )
        return cls(presence, executor)

    def poll_commands(self, now: datetime | None = None) -> list[CommandRun]:
        """Beat if due, then execute the pending commands for this kiosk's bank; returns them.

        A database that is away is logged and tried again at the next call.

        Raises:
            KioskReplacedError: another process took this kiosk id over: the kiosk must stop
                driving its bank (show "out of service" and exit).
        """
        try:
            self.presence.beat_if_due(now)
            return self.executor.run_pending(now)
        except KioskReplacedError:
            raise
        except StoreError as exc:
            log.warning("site commands not polled: %s", exc)
            return []

    def run(self, stop: threading.Event, poll_s: float = 1.0) -> None:
        """Poll until ``stop`` is set, woken at once by a NOTIFY on PostgreSQL (a thread of its
        own; the board is shared safely with the service thread)."""
        listener = CommandListener(
            self.executor.database, self.presence.kiosk_id, COMMANDS_CHANNEL, poll_s
        )
        self._listener = listener
        with listener:
            while not stop.is_set():
                self.poll_commands()
                listener.wait()

    def close(self) -> None:
        """Stop a :meth:`run` loop's wait and sign this kiosk off (shown offline at once)."""
        if self._listener is not None:
            self._listener.close()
        try:
            self.presence.sign_off()
        except StoreError as exc:
            log.warning("could not sign off: %s", exc)
