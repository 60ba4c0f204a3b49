"""The site ``lockers bench --site`` times: one database, a bank of lockers per kiosk, each bank
behind its own lock-board emulator on a real pty (:class:`~lockers.soak.kiosks.LoggedEmulator`,
which notes every lock it fires), kiosk 1 in this process (its staff send the commands, its
customers retrieve) and every other kiosk in a child process of its own, as a real kiosk runs:
the real start-up (registered in the site's registry), the real serial driver on its pty and
the real site agent (:class:`~lockers.app.site.SiteThread`: LISTEN/NOTIFY on PostgreSQL,
polling every second on SQLite).

On PostgreSQL the bench makes a throw-away database on the given server and drops it after, so
whatever the server holds is left alone.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from lockers.config import Settings, load_settings
from lockers.errors import LockersError
from lockers.kiosk.bench_flow import Kiosk, TimedBoard
from lockers.soak.kiosks import LoggedEmulator

if TYPE_CHECKING:
    from lockers.store.db import Database

PROTOCOL = "kerong"
BOARD = 0  # every bank's own board 0 (kerong numbers its first board 0)
READY_TIMEOUT_S = 120.0  # a child kiosk's interpreter start, imports and start-up check


def kiosk_id(index: int) -> str:
    return f"bench-{index + 1}"


def label_prefix(index: int) -> str:
    return f"K{index + 1}-"


@dataclass(frozen=True)
class BankLock:
    """A locker of a bank as both sides name it: its label and its emulator's wire."""

    kiosk_index: int
    label: str
    channel: int


def _write_config(work: Path, index: int, url: str, lockers: int) -> Path:
    data = {
        "data_dir": str(work / f"kiosk-{index + 1}"),
        "database": {"url": url, "busy_timeout_s": 30, "kiosk_id": kiosk_id(index)},
        # The board's real defaults (a site's timing), only the port is the emulator's pty.
        "board": {"protocol": PROTOCOL, "port": str(work / f"tty-kiosk-{index + 1}")},
        "lockers": [
            {"label": str(n), "size": "M", "board": BOARD, "channel": n}
            for n in range(1, lockers + 1)
        ],
        # One template key and PIN secret for the whole site, as `lockers site` hands them out.
        "privacy": {"template_key_file": str(work / "site-keys" / "template.key")},
        "site": {
            "display_name": f"Kiosk {index + 1} (bench)",
            "location": f"bank {index + 1}",
            "label_prefix": label_prefix(index),
        },
    }
    path = work / f"kiosk-{index + 1}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def serve_kiosk(conn: Connection, config: str) -> None:
    """A kiosk process (spawned): start as the kiosk app does, run its site agent, say
    ``("ready", pid)`` or ``("failed", why)``, and stop cleanly when the pipe says ``None`` or
    closes."""
    from lockers import __version__
    from lockers.app.site import SiteThread
    from lockers.hardware.boards import open_board
    from lockers.kiosk.presence import identity_of
    from lockers.kiosk.startup import start_store

    settings = load_settings(Path(config), env={})
    try:
        store, _ = start_store(settings, identity=identity_of(settings, version=__version__))
    except LockersError as exc:
        conn.send(("failed", exc.message))
        return
    with contextlib.ExitStack() as opened:
        opened.callback(store.close)
        try:
            board = open_board(settings.board, settings.lockers)
        except LockersError as exc:
            conn.send(("failed", exc.message))
            return
        opened.callback(board.close)
        site = SiteThread.start(store, board)
        if site is not None:
            opened.callback(site.stop)
        conn.send(("ready", mp.current_process().pid))
        with contextlib.suppress(EOFError, OSError):
            conn.recv()  # None: stop


class ChildKiosk:
    """A kiosk of the site in its own (spawned) process."""

    def __init__(self, index: int, config: Path) -> None:
        ctx = mp.get_context("spawn")  # the bench runs emulator threads: never fork from here
        self.index = index
        self._conn, child = ctx.Pipe()
        self._proc: Any = ctx.Process(
            target=serve_kiosk, args=(child, str(config)), name=kiosk_id(index), daemon=True
        )
        self._proc.start()
        child.close()

    def wait_ready(self) -> None:
        """Raises LockersError when the kiosk did not start."""
        message: tuple[str, Any] = ("failed", f"no answer within {READY_TIMEOUT_S:g} s")
        if self._conn.poll(READY_TIMEOUT_S):
            try:
                message = self._conn.recv()
            except EOFError:
                message = ("failed", "its process ended during start-up")
        if message[0] != "ready":
            raise LockersError(
                f"bench kiosk {kiosk_id(self.index)} did not start: {message[1]}",
                hint="run `lockers bench --site` again; the kiosk's log is on stderr above",
            )

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            self._conn.send(None)
        self._proc.join(timeout=30)
        if self._proc.is_alive():
            self._proc.kill()
            self._proc.join(timeout=10)
        self._conn.close()


class BenchSite:
    """The site of one backend; :meth:`open` builds it, :meth:`close` undoes everything.

    ``home`` is kiosk 1 (real rental service on its timed board), ``emulators[i]`` kiosk i's
    board, ``banks[i]`` its lockers.
    """

    def __init__(self, settings: Settings, url: str, work: Path, kiosks: int, lockers: int) -> None:
        self._settings = settings
        self._url = url
        self.work = work
        self.kiosks = kiosks
        self.lockers = lockers
        self.emulators: list[LoggedEmulator] = []
        self.banks: list[list[BankLock]] = []
        self.configs: list[Path] = []
        self._opened = contextlib.ExitStack()
        self.home: Kiosk | None = None
        self.home_settings: Settings | None = None

    def open(self, model_version: str) -> Kiosk:
        """Schema, emulators, kiosk 1 here, the others in their processes (all ready)."""
        from lockers.kiosk.startup import connect
        from lockers.store.schema import upgrade

        self.configs = [
            _write_config(self.work, i, self._url, self.lockers) for i in range(self.kiosks)
        ]
        self.banks = [
            [BankLock(i, f"{label_prefix(i)}{n}", n) for n in range(1, self.lockers + 1)]
            for i in range(self.kiosks)
        ]
        first = load_settings(self.configs[0], env={})
        database = connect(first)
        try:
            upgrade(database)
        finally:
            database.dispose()
        for i in range(self.kiosks):
            emulator = LoggedEmulator(i, PROTOCOL, self.lockers, self.work / f"tty-kiosk-{i + 1}")
            emulator.start()
            self._opened.callback(emulator.stop)
            self.emulators.append(emulator)
        self.home = self._open_home(first, model_version)
        children = [ChildKiosk(i, self.configs[i]) for i in range(1, self.kiosks)]
        for child in children:
            self._opened.callback(child.stop)
        for child in children:
            child.wait_ready()
        return self.home

    def _open_home(self, configured: Settings, model_version: str) -> Kiosk:
        """Kiosk 1 as the kiosk app composes it (registered, site agent running), with the
        user's recognition and liveness settings."""
        from lockers import __version__
        from lockers.app.site import SiteThread
        from lockers.hardware.boards import open_board
        from lockers.kiosk.presence import identity_of
        from lockers.kiosk.rental_service import RentalService
        from lockers.kiosk.startup import start_store

        settings = configured.model_copy(
            update={
                "recognition": self._settings.recognition,
                "liveness": self._settings.liveness,
            }
        )
        self.home_settings = settings
        identity = identity_of(settings, version=__version__, model_version=model_version)
        store, _ = start_store(settings, identity=identity)
        self._opened.callback(store.close)
        board = open_board(settings.board, settings.lockers)
        self._opened.callback(board.close)
        site = SiteThread.start(store, board)
        if site is not None:
            self._opened.callback(site.stop)
        timed = TimedBoard(board)
        service = RentalService.from_settings(settings, store.database, timed, store.cipher)
        return Kiosk(service, timed, model_version, store)

    def close(self) -> None:
        self._opened.close()


@contextlib.contextmanager
def throwaway_postgres(server_url: str) -> Iterator[str]:
    """Yield the URL of a new, empty database on ``server_url``'s server; dropped afterwards.

    Raises:
        LockersError: the server cannot be reached or the role may not create databases.
    """
    from sqlalchemy.exc import SQLAlchemyError

    from lockers.store.db import Database

    admin = Database(server_url)
    if admin.url.get_backend_name() != "postgresql":
        admin.dispose()
        raise LockersError(
            f"--database-url must name a PostgreSQL server, not {admin.url.get_backend_name()}",
            hint="e.g. postgresql+psycopg://user@127.0.0.1:5432/postgres (SQLite always runs)",
        )
    name = f"lockers_bench_{secrets.token_hex(4)}"
    try:
        _autocommit(admin, f'CREATE DATABASE "{name}"')
    except SQLAlchemyError as exc:
        admin.dispose()
        raise LockersError(
            f"cannot create a throw-away database on {admin.url.render_as_string()}: "
            f"{str(exc).splitlines()[0]}",
            hint="give a role that may CREATE DATABASE (the bench drops it afterwards)",
        ) from None
    try:
        yield admin.url.set(database=name).render_as_string(hide_password=False)
    finally:
        with contextlib.suppress(SQLAlchemyError):
            _autocommit(admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def _autocommit(database: Database, statement: str) -> None:
    with database.engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql(statement)
