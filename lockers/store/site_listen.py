"""Waiting for site commands and their results: PostgreSQL LISTEN/NOTIFY, polling as fallback.

A :class:`CommandListener` blocks until a NOTIFY for its key arrives on its channel or the poll
interval (1 s) passes, whichever is first; the caller then looks at the database either way, so
a lost notification (a dropped connection, SQLite, which has none) costs at most one interval.
"""

from __future__ import annotations

import contextlib
import threading
import time
from types import TracebackType
from typing import Any

from lockers.backoff import Backoff, BackoffTimer
from lockers.errors import StoreError
from lockers.store.db import Database
from lockers.store.models import SiteCommand, utcnow
from lockers.store.site_commands import (
    COMMANDS_CHANNEL,
    RESULTS_CHANNEL,
    expire_commands,
    get_command,
)

DEFAULT_POLL_S = 1.0


class CommandListener:
    """Wakes a kiosk when a command for it is sent (or a waiter when a result is recorded).

    Args:
        database: the site database; LISTEN only where it is PostgreSQL.
        key: the NOTIFY payload to wake on (the kiosk id, or a command id for results).
        channel: :data:`COMMANDS_CHANNEL` or :data:`RESULTS_CHANNEL`.
        poll_s: the longest :meth:`wait` blocks without a notification.

    One thread uses a listener; :meth:`close` may be called from any thread and ends a wait.
    """

    def __init__(
        self,
        database: Database,
        key: str,
        channel: str = COMMANDS_CHANNEL,
        poll_s: float = DEFAULT_POLL_S,
    ) -> None:
        self._database = database
        self._key = key
        self._channel = channel
        self.poll_s = poll_s
        self._closed = threading.Event()
        self._conn: Any = None  # psycopg.Connection, imported only for PostgreSQL
        self._reconnect = BackoffTimer(Backoff(base_s=poll_s, max_s=max(30.0, poll_s)))
        self._retry_at = 0.0
        self.listening = False  # True while a LISTEN connection is up

    def start(self) -> None:
        """LISTEN now (PostgreSQL), so a NOTIFY sent after this returns is never missed."""
        if self._database.dialect == "postgresql" and self._conn is None:
            self._connect()

    def wait(self, timeout_s: float | None = None) -> bool:
        """Block until notified (``True``) or ``min(timeout_s, poll_s)`` passed (``False``)."""
        limit = self.poll_s if timeout_s is None else max(0.0, min(timeout_s, self.poll_s))
        if self._closed.is_set():
            return False
        if self._database.dialect == "postgresql":
            if self._conn is None and time.monotonic() >= self._retry_at:
                self._connect()
            if self._conn is not None:
                return self._wait_notify(limit)
        self._closed.wait(limit)
        return False

    def _connect(self) -> None:
        import psycopg

        url = self._database.url.set(drivername="postgresql")
        try:
            conn = psycopg.connect(
                url.render_as_string(hide_password=False),
                autocommit=True,
                connect_timeout=max(1, int(self._database.busy_timeout_s)),
            )
            conn.execute(f'LISTEN "{self._channel}"')
        except psycopg.Error:
            self._retry_at = time.monotonic() + self._reconnect.next_delay()
            return
        self._reconnect.reset()
        self._conn, self.listening = conn, True

    def _wait_notify(self, limit: float) -> bool:
        import psycopg

        deadline = time.monotonic() + limit
        try:
            # Other kiosks' notifications wake us too: skip them until ours or the deadline.
            while (left := deadline - time.monotonic()) > 0 and not self._closed.is_set():
                for note in self._conn.notifies(timeout=left, stop_after=1):
                    if note.payload == self._key:
                        return True
        except psycopg.Error:
            self._drop()
        return False

    def _drop(self) -> None:
        conn, self._conn, self.listening = self._conn, None, False
        self._retry_at = time.monotonic() + self._reconnect.next_delay()
        if conn is not None:
            # Closing a broken connection may raise anything; it is gone either way.
            with contextlib.suppress(Exception):
                conn.close()

    def close(self) -> None:
        self._closed.set()
        self._drop()

    def __enter__(self) -> CommandListener:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def wait_for_result(
    database: Database, command_id: int, timeout_s: float, poll_s: float = 0.25
) -> SiteCommand:
    """Wait until command ``command_id`` is finished, or ``timeout_s`` passed; return its row.

    A command still unclaimed past its ``expires_at`` is finished as ``expired`` here, so the
    sender learns it at once even when the owning kiosk is offline. Returned unfinished
    (``finished_at is None``) only on timeout: claimed and still running, or not yet expired.

    Raises:
        StoreError: no such command, or the database failed.
    """
    deadline = time.monotonic() + timeout_s
    with CommandListener(database, str(command_id), RESULTS_CHANNEL, poll_s) as listener:
        while True:
            command = _check(database, command_id)
            left = deadline - time.monotonic()
            if command.finished_at is not None or left <= 0:
                return command
            listener.wait(left)


def _check(database: Database, command_id: int) -> SiteCommand:
    now = utcnow()
    with database.transaction() as session:
        command = get_command(session, command_id)
        if command is None:
            raise StoreError(f"there is no site command {command_id}")
        if command.finished_at is None and command.claimed_at is None and now > command.expires_at:
            expire_commands(session, now, command.kiosk_id)
            command = get_command(session, command_id)
        if command is None:
            raise StoreError(f"there is no site command {command_id}")
        return command
