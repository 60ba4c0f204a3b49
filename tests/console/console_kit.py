"""Helpers and fixtures of the console tests (conftest.py imports the fixtures): a real
database (SQLite file, or the CI's PostgreSQL), the console served by a real uvicorn on a
loopback socket, staff of every role, a clock the test moves, and a command sender that
records commands (test_site_store.py uses the real site store)."""

from __future__ import annotations

import re
import socket
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import uvicorn

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "store"))

from lockers_storekit import backend, database, db_url, settings  # noqa: F401

from lockers.config import Settings
from lockers.console import accounts
from lockers.console.app import create_app
from lockers.console.site_port import CommandView
from lockers.kiosk.pins import hash_pin
from lockers.store import lockers_repo, rentals, staff_repo
from lockers.store.db import Database, Session
from lockers.store.models import LockerStatus

PASSWORDS = {
    "alice": "alice-password-1",  # attendant
    "mark": "mark-password-22",  # manager
    "ada": "ada-password-333",  # admin
}
ROLES = {"alice": "attendant", "mark": "manager", "ada": "admin"}


class Clock:
    """The console's clock: tests move it instead of sleeping."""

    def __init__(self) -> None:
        self.now = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@dataclass
class RecordingCommands:
    """A :class:`CommandSender` that keeps commands in memory; tests finish them."""

    sent: dict[int, CommandView] = field(default_factory=dict)
    changed: threading.Condition = field(default_factory=threading.Condition)

    def send(
        self,
        session: Session,
        *,
        kiosk_id: str,
        action: str,
        label: str,
        staff: str,
        reason: str,
        now: datetime,
    ) -> CommandView:
        command = CommandView(
            id=len(self.sent) + 1,
            kiosk_id=kiosk_id,
            action=action,
            locker_label=label,
            staff=staff,
            reason=reason,
            created_at=now,
            expires_at=now + timedelta(seconds=30),
        )
        self.sent[command.id] = command
        return command

    def get(self, session: Session, command_id: int, now: datetime) -> CommandView | None:
        return self.sent.get(command_id)

    def wait(self, db: Database, command_id: int, timeout_s: float) -> CommandView | None:
        with self.changed:
            self.changed.wait_for(lambda: not self.sent[command_id].pending, timeout_s)
            return self.sent.get(command_id)

    def finish(self, command_id: int, result: str, at: datetime) -> None:
        with self.changed:
            self.sent[command_id] = replace(self.sent[command_id], result=result, finished_at=at)
            self.changed.notify_all()

    def counts_by_result(self, session: Session) -> list[tuple[str, int]]:
        counts: dict[str, int] = {}
        for command in self.sent.values():
            key = command.result or "pending"
            counts[key] = counts.get(key, 0) + 1
        return sorted(counts.items())


@dataclass
class Console:
    url: str
    database: Database
    settings: Settings
    clock: Clock
    commands: RecordingCommands
    clients: list[httpx.Client] = field(default_factory=list)

    def client(self, address: str = "198.51.100.7", **headers: str) -> httpx.Client:
        """A browser from ``address`` (sent as X-Forwarded-For; loopback is a trusted proxy)."""
        client = httpx.Client(
            base_url=self.url,
            headers={"X-Forwarded-For": address, **headers},
            follow_redirects=False,
        )
        self.clients.append(client)
        return client


def add_member(db: Database, name: str, role: str, password: str | None, now: datetime) -> None:
    with db.transaction() as session:
        staff_repo.add_staff(session, name, role, hash_pin("123456", b"s" * 32))
    if password is not None:
        accounts.set_password(db, name, password, "test", now)


def serve(app: object) -> Iterator[str]:
    sock = socket.socket()
    # uvicorn sets TCP_NODELAY on sockets it opens itself; without it, loopback requests wait
    # ~40 ms for delayed ACKs
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)  # listening before the thread starts: no wait for "ready"
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app,
        log_level="warning",
        proxy_headers=True,
        forwarded_allow_ips="127.0.0.1",
        lifespan="off",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="console")
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def rent(db: Database, label: str, started: datetime, hours: float) -> None:
    """An active rental of locker ``label`` started at ``started``, ending ``hours`` later."""
    with db.transaction() as session:
        locker = lockers_repo.get_locker(session, label)
        locker.status = LockerStatus.OCCUPIED
        rentals.create_rental(
            session,
            locker,
            now=started,
            max_hours=hours,
            retention_hours=24,
            model_version="facenet-vggface2@test",
            kiosk_id="kiosk-1",
        )


@pytest.fixture
def console(database: Database, settings: Settings) -> Iterator[Console]:  # noqa: F811
    clock = Clock()
    with database.transaction() as session:
        lockers_repo.sync_lockers(session, settings.lockers)
    for name, role in ROLES.items():
        add_member(database, name, role, PASSWORDS[name], clock.now)
    commands = RecordingCommands()
    app = create_app(settings, database, commands=commands, clock=clock)
    for url in serve(app):
        harness = Console(url, database, settings, clock, commands)
        yield harness
        for client in harness.clients:
            client.close()


_HIDDEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(html: str) -> str:
    found = _HIDDEN.search(html)
    if found is None:
        raise AssertionError("the page has no CSRF field")
    return found.group(1)


def login(client: httpx.Client, name: str, password: str | None = None) -> httpx.Response:
    form = client.get("/login")
    return client.post(
        "/login",
        data={
            "name": name,
            "password": PASSWORDS.get(name, "") if password is None else password,
            "csrf_token": csrf_of(form.text),
            "next": "/",
        },
    )


def logged_in(console: Console, name: str, address: str = "198.51.100.7") -> httpx.Client:
    client = console.client(address)
    response = login(client, name)
    assert response.status_code == 303, response.text
    return client


def page_csrf(client: httpx.Client, path: str = "/") -> str:
    return csrf_of(client.get(path).text)
