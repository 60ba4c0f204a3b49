"""The console beside ``lockers demo`` (``scripts/demo.sh`` starts it in the background):
``python -m lockers.console.demo [--data-dir DIR] [other lockers demo options]``.

It waits for the demo kiosk to create its database (the same file ``lockers demo`` uses: a
SQLite ``lockers.db`` in the demo's data directory, whatever ``database.url`` says), gives the
demo staff member a fresh console password, prints the login, and serves the console on
127.0.0.1 (port 8080, or the next free one) until it is stopped.
"""

from __future__ import annotations

import argparse
import secrets
import socket
import sys
import threading
from pathlib import Path
from typing import TextIO

from lockers.config import Settings, load_settings
from lockers.errors import LockersError
from lockers.store.db import Database
from lockers.store.models import utcnow
from lockers.store.schema import current_revision, head_revision

DEMO_LOGIN = "staff"  # lockers.app.DEMO_STAFF's name: an admin in every demo database
READY_TIMEOUT_S = 900.0  # the demo may download its weights first
HOST = "127.0.0.1"


def demo_database_file(settings: Settings, data_dir: Path | None) -> Path:
    """The database ``lockers demo`` opens (lockers.app.demo_settings: the data directory's
    SQLite file, never ``database.url``)."""
    data = data_dir.resolve() if data_dir is not None else settings.data_dir
    return data / "lockers.db"


def _ready(file: Path) -> bool:
    """The demo created and migrated the database and added its staff member."""
    from lockers.store import staff_repo

    if not file.is_file():
        return False
    database = Database(f"sqlite:///{file}", 5.0)
    try:
        if current_revision(database) != head_revision():
            return False
        with database.transaction() as session:
            return staff_repo.find_staff(session, DEMO_LOGIN) is not None
    except LockersError:
        return False
    finally:
        database.dispose()


def wait_until_ready(file: Path, stop: threading.Event, timeout_s: float) -> bool:
    """Poll (twice a second) until the demo's database is ready; False on timeout or stop."""
    waited = 0.0
    while not _ready(file):
        if stop.wait(0.5):
            return False
        waited += 0.5
        if waited >= timeout_s:
            return False
    return True


def free_port(first: int, tries: int = 20) -> int:
    """``first`` or the next port free on loopback."""
    for port in range(first, first + tries):
        with socket.socket() as probe:
            try:
                probe.bind((HOST, port))
            except OSError:
                continue
            return port
    raise LockersError(f"no free port between {first} and {first + tries - 1}")


def demo_login(database: Database) -> str:
    """A fresh console password for the demo staff member (printed, never stored in clear)."""
    from lockers.console import accounts

    password = secrets.token_urlsafe(12)
    accounts.set_password(database, DEMO_LOGIN, password, "demo", utcnow())
    return password


def _say(line: str, stream: TextIO = sys.stdout) -> None:
    stream.write(line + "\n")
    stream.flush()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--console-port", type=int, default=8080)
    known, _ = parser.parse_known_args(argv)  # the rest is for lockers demo
    try:
        import uvicorn  # noqa: F401  (the console extra)
    except ImportError:
        _say("demo: the console is not installed (pip install -e '.[console]')", sys.stderr)
        return 0
    try:
        settings = load_settings()
        file = demo_database_file(settings, known.data_dir)
        if not wait_until_ready(file, threading.Event(), READY_TIMEOUT_S):
            _say("demo: the kiosk's database never became ready; no console", sys.stderr)
            return 1
        database = Database(f"sqlite:///{file}", 20.0)
        password = demo_login(database)
        port = free_port(known.console_port)
    except LockersError as exc:
        _say(f"demo: console not started: {exc.message}", sys.stderr)
        return 1
    settings = settings.model_copy(
        update={
            "database": settings.database.model_copy(
                update={"url": database.url.render_as_string(hide_password=False)}
            )
        }
    )
    database.dispose()
    _say(f"console:        http://{HOST}:{port}/  login {DEMO_LOGIN!r}, password {password!r}")
    from lockers.console.serve import serve

    serve(settings, HOST, port, log_level="warning")
    return 0


if __name__ == "__main__":
    sys.exit(main())
