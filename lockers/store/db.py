"""Engine and session factory: SQLite pragmas, PostgreSQL by URL, database errors made readable.

SQLite (the default) runs with WAL (readers never block the writer), foreign keys on,
``synchronous=FULL`` (a committed rental survives a power cut) and a busy timeout. Every write
transaction starts with ``BEGIN IMMEDIATE``, so two kiosk processes serialise on the write lock
up front instead of failing with "database is locked" half-way through a rental.

The SQLite file holds the PIN hashes and the audit log: it is created 0600 (and its WAL and SHM
files, which SQLite gives the database file's mode, with it) whatever the umask, and an existing
file other accounts could read is tightened; :func:`private_directory` makes the data directory
0700.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from lockers.errors import StoreError

__all__ = ["Database", "Session", "describe_db_error", "private_directory"]

log = logging.getLogger(__name__)

PRIVATE_FILE_MODE = 0o600
PRIVATE_DIR_MODE = 0o700
SQLITE_COMPANIONS = ("-wal", "-shm", "-journal")
"""Files SQLite keeps beside the database; they hold the same data."""


def private_directory(path: Path) -> Path:
    """Create ``path`` (and missing parents) with the leaf readable by this account only (0700,
    whatever the umask). An existing directory of this account that others can enter is
    tightened to 0700, with a warning; one owned by another account or shared (sticky, like
    /tmp) is left alone.

    Raises:
        StoreError: it cannot be created or is not a directory.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            path.mkdir(mode=PRIVATE_DIR_MODE)
        except FileExistsError:
            _tighten_directory(path)
        else:
            os.chmod(path, PRIVATE_DIR_MODE)  # mkdir's mode is filtered by the umask
    except OSError as exc:
        raise StoreError(
            f"cannot create the data directory {path}: {exc.strerror or exc}",
            hint="create it (mode 0700) owned by the kiosk user, or set data_dir elsewhere",
        ) from None
    return path


def _tighten_directory(path: Path) -> None:
    info = path.stat()
    if not stat.S_ISDIR(info.st_mode):
        raise NotADirectoryError(20, "not a directory", str(path))
    loose = info.st_mode & (stat.S_IRWXG | stat.S_IRWXO)
    if loose and info.st_uid == os.getuid() and not info.st_mode & stat.S_ISVTX:
        log.warning(
            "data directory %s was readable by other accounts (mode %o): now 0700",
            path,
            info.st_mode & 0o777,
        )
        os.chmod(path, PRIVATE_DIR_MODE)


def private_sqlite_file(path: Path) -> None:
    """Create the SQLite file ``path`` empty with mode 0600 unless it exists; tighten it and its
    WAL/SHM/journal files to 0600 when they are this account's and others could read them.
    SQLite creates the WAL and SHM files with the database file's mode, so they follow."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE)
    except FileExistsError:
        pass
    else:
        try:
            os.fchmod(fd, PRIVATE_FILE_MODE)  # os.open's mode is filtered by the umask
        finally:
            os.close(fd)
    for name in ("", *SQLITE_COMPANIONS):
        _tighten_file(Path(f"{path}{name}"))


def _tighten_file(path: Path) -> None:
    try:
        info = path.stat()
    except FileNotFoundError:
        return
    loose = info.st_mode & (stat.S_IRWXG | stat.S_IRWXO)
    if loose and info.st_uid == os.getuid() and stat.S_ISREG(info.st_mode):
        log.warning(
            "%s was readable by other accounts (mode %o): now 0600", path, info.st_mode & 0o777
        )
        os.chmod(path, PRIVATE_FILE_MODE)


class Database:
    """One engine and one ``sessionmaker`` per process (never share a Session across threads).

    Args:
        url: SQLAlchemy URL (``sqlite:///path`` or ``postgresql+psycopg://...``).
        busy_timeout_s: how long a writer waits for another writer (SQLite busy timeout,
            PostgreSQL lock timeout).

    Raises:
        StoreError: the URL is malformed, names an unknown driver, or the SQLite directory
            does not exist.
    """

    def __init__(self, url: str, busy_timeout_s: float = 10.0) -> None:
        try:
            parsed = make_url(url)
        except ArgumentError:
            raise StoreError(
                f"database URL {url!r} is not a valid SQLAlchemy URL",
                hint="use sqlite:///path/to/lockers.db or postgresql+psycopg://user@host/db",
            ) from None
        self.url = parsed
        self.dialect = parsed.get_backend_name()
        self.busy_timeout_s = busy_timeout_s
        if self.dialect == "sqlite":
            self.engine = self._sqlite_engine(parsed.database or "", busy_timeout_s)
        elif self.dialect == "postgresql":
            try:
                self.engine = create_engine(
                    parsed,
                    pool_pre_ping=True,
                    connect_args={
                        "connect_timeout": max(1, int(busy_timeout_s)),
                        "options": f"-c lock_timeout={int(busy_timeout_s * 1000)}",
                    },
                )
            except NoSuchModuleError:
                raise StoreError(
                    f"no driver for {parsed.drivername!r}",
                    hint="use postgresql+psycopg://... and install psycopg[binary]",
                ) from None
        else:
            raise StoreError(
                f"database {parsed.drivername!r} is not supported",
                hint="use SQLite (sqlite:///file) or PostgreSQL (postgresql+psycopg://...)",
            )
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)

    @staticmethod
    def _sqlite_engine(path: str, busy_timeout_s: float) -> Engine:
        if not path or path == ":memory:" or path.startswith("file:"):
            raise StoreError(
                "the kiosk database must be a SQLite file, not an in-memory database",
                hint="set database.url to sqlite:///path/to/lockers.db (or leave it empty)",
            )
        directory = Path(path).expanduser().resolve().parent
        if not directory.is_dir():
            raise StoreError(
                f"the directory of the database file {path} does not exist",
                hint=f"create {directory} or point database.url elsewhere",
            )
        file = Path(path).expanduser()
        try:
            private_sqlite_file(file)
        except OSError as exc:  # SQLite says the same, with our hint, on the first connection
            log.debug("cannot prepare %s: %s", file, exc)
        engine = create_engine(f"sqlite:///{path}", connect_args={"timeout": busy_timeout_s})

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn: sqlite3.Connection, _record: Any) -> None:
            # Take transaction control from the driver so BEGIN IMMEDIATE below is ours.
            dbapi_conn.isolation_level = None
            cursor = dbapi_conn.cursor()
            try:
                cursor.execute(f"PRAGMA busy_timeout = {int(busy_timeout_s * 1000)}")
                cursor.execute("PRAGMA foreign_keys = ON")
                cursor.execute("PRAGMA journal_mode = WAL")
                cursor.execute("PRAGMA synchronous = FULL")
            finally:
                cursor.close()
            # The WAL and SHM files exist now; ones left 0644 by an older version are tightened.
            for name in SQLITE_COMPANIONS:
                _tighten_file(Path(f"{file}{name}"))

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Any) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Session]:
        """One unit of work: commits on success, rolls back on any exception.

        Raises:
            StoreError: the database failed (locked, full, corrupt, unreachable), with a hint.
        """
        try:
            with self.sessions.begin() as session:
                yield session
        except DBAPIError as exc:
            raise describe_db_error(exc, self.url.render_as_string()) from exc

    def ping(self) -> None:
        """Open a connection and read the schema, so a garbage file fails here, not later.

        Raises:
            StoreError: the database cannot be opened or is not a database.
        """
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
                if self.dialect == "sqlite":
                    conn.exec_driver_sql("SELECT count(*) FROM sqlite_master").scalar()
        except DBAPIError as exc:
            raise describe_db_error(exc, self.url.render_as_string()) from exc

    def dispose(self) -> None:
        """Close pooled connections (call before forking and at shutdown)."""
        self.engine.dispose()


def describe_db_error(exc: SQLAlchemyError, where: str) -> StoreError:
    """Turn a driver error into a :class:`StoreError` that says what happened and what to do."""
    raw = str(getattr(exc, "orig", exc)).strip()
    low = raw.lower()
    if "file is not a database" in low or "malformed" in low:
        return StoreError(
            f"{where} is not a valid database file ({raw})",
            hint="restore it from a backup, or move it away and run `lockers db upgrade` "
            "to create a fresh one",
        )
    if "readonly" in low or "read-only" in low or "unable to open" in low:
        return StoreError(
            f"cannot write the database {where} ({raw})",
            hint="check that the kiosk user may write the database file and its directory",
        )
    if "disk is full" in low or "disk i/o" in low or "no space" in low:
        return StoreError(
            f"the database {where} could not be written: the disk is full or failing ({raw}); "
            "the last action was not saved, earlier ones are intact",
            hint="free disk space on the data volume (df -h), check the disk, then retry",
        )
    if "locked" in low or "lock timeout" in low or "could not obtain lock" in low:
        return StoreError(
            f"the database {where} stayed busy ({raw})",
            hint="another process holds a long write; retry, or raise database.busy_timeout_s",
        )
    if "connection" in low or "could not connect" in low or "server" in low:
        return StoreError(
            f"cannot reach the database {where} ({raw})",
            hint="check that the database server is running and database.url is right",
        )
    return StoreError(f"database error on {where}: {raw}", hint="see the log for details")
