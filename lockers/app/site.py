"""The kiosk's part in its site while it runs: a thread that beats the heartbeat and executes
the commands staff elsewhere sent for this kiosk's bank (:class:`~lockers.kiosk.site_agent.
SiteAgent`), woken at once by PostgreSQL's NOTIFY, polling every second on SQLite.

It runs beside the controller's service thread rather than on it: a remote open must not wait
behind a customer's retrieve, and the board serialises its own bus. A process that lost its
kiosk id to another one stops driving the bank and says so in the kiosk's health.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from lockers.config import Settings
from lockers.errors import LockersError

if TYPE_CHECKING:
    from lockers.hardware.board import LockBoard
    from lockers.kiosk.site_agent import SiteAgent
    from lockers.kiosk.startup import Store

log = logging.getLogger(__name__)

RETRY_AFTER_ERROR_S = 5.0
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class SiteThread:
    """Runs one :class:`SiteAgent` until :meth:`stop`; ``problem`` says why it stopped early."""

    def __init__(self, agent: SiteAgent) -> None:
        self.agent = agent
        self.problem = ""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="site-agent", daemon=True)

    @classmethod
    def start(cls, store: Store, board: LockBoard) -> SiteThread | None:
        """The running agent of ``store``'s registered kiosk (None when it was not registered:
        a store opened without an identity, as ``lockers db check`` does)."""
        from lockers.kiosk.site_agent import SiteAgent

        if store.presence is None:
            return None
        site = cls(SiteAgent.create(store.database, board, store.presence))
        site._thread.start()
        return site

    def beat(
        self, *, failed_checks: Sequence[str] | None = None, model_version: str | None = None
    ) -> None:
        """Tell the site now what changed (start-up checks, the model that loaded)."""
        try:
            self.agent.presence.beat(failed_checks=failed_checks, model_version=model_version)
        except LockersError as exc:
            log.warning("heartbeat not written: %s", exc)

    def _run(self) -> None:
        from lockers.store.site import KioskReplacedError

        while not self._stop.is_set():
            try:
                self.agent.run(self._stop)
            except KioskReplacedError as exc:
                self.problem = f"this kiosk id now runs elsewhere: {exc.message}"
                log.error("site agent stopped: %s", self.problem)
                return
            except Exception:  # a bug must not end remote commands for good: log, retry
                log.exception("site agent failed; retrying in %.0f s", RETRY_AFTER_ERROR_S)
                self._stop.wait(RETRY_AFTER_ERROR_S)

    def stop(self) -> None:
        """End the loop, sign this kiosk off (offline at once for the site) and join."""
        self._stop.set()
        self.agent.close()
        self._thread.join(timeout=10.0)


def run_site_agent(settings: Settings, *, on_ready: Callable[[str], object] = print) -> str:
    """``lockers site agent``: this kiosk's site part alone (registered, bank synced, heartbeat,
    staff commands on its board, no camera or screen) until SIGTERM/SIGINT; then signed off.
    Returns why it stopped early ("" after a signal).

    Raises:
        KioskIdInUseError, StoreError, BoardError: as the kiosk's own start would.
    """
    from lockers import __version__
    from lockers.kiosk.presence import identity_of
    from lockers.kiosk.startup import start_store

    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in STOP_SIGNALS}
    try:  # the handlers are put back however the start ends (a refused start too)
        store, _report = start_store(settings, identity=identity_of(settings, version=__version__))
        try:
            return _run_until_stopped(store, settings, stop, on_ready)
        finally:
            store.close()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _run_until_stopped(
    store: Store, settings: Settings, stop: threading.Event, on_ready: Callable[[str], object]
) -> str:
    from lockers.hardware.boards import open_board

    board = open_board(settings.board, settings.lockers)
    try:
        site = SiteThread.start(store, board)
        if site is None:  # start_store was given an identity: it always registers
            return "the kiosk was not registered"
        on_ready(f"site agent of {settings.database.kiosk_id} running (pid {os.getpid()})")
        try:
            # The wait wakes each second: the agent thread may have stopped by itself.
            while not stop.wait(1.0) and site.problem == "":
                pass
            return site.problem
        finally:
            site.stop()
    finally:
        board.close()
