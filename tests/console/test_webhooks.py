"""Webhooks against a real receiver on 127.0.0.1: signed (checked by the receiver the way
docs/console.md tells one to), retried with back-off after failures, announced once, never
blocking a page, and every attempt shown on the alerts page."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from console_kit import RecordingCommands, add_member, login, rent, serve

from lockers.config import Settings, load_settings
from lockers.config.console import WebhookTarget
from lockers.console.app import create_app
from lockers.console.context import ConsoleContext
from lockers.console.webhooks import WebhookDispatcher, sign, verify
from lockers.errors import ConfigError
from lockers.store import audit, lockers_repo
from lockers.store.audit_values import AuditAction, AuditOutcome
from lockers.store.console_models import WebhookDelivery
from lockers.store.db import Database
from lockers.store.models import utcnow

SECRET = "receiver-secret-0123456789"


@dataclass
class Receiver:
    """An HTTP receiver that verifies each request as docs/console.md says, answers 503 to the
    first ``fail_first`` valid ones and 200 afterwards; ``hold`` makes it wait before answering."""

    fail_first: int = 0
    hold: threading.Event | None = None
    bodies: list[dict[str, object]] = field(default_factory=list)
    verdicts: list[str] = field(default_factory=list)
    accepted: threading.Event = field(default_factory=threading.Event)
    arrived: threading.Event = field(default_factory=threading.Event)
    url: str = ""

    def check(self, headers: dict[str, str], body: bytes) -> str:
        stamp = headers.get("x-lockers-timestamp", "")
        given = headers.get("x-lockers-signature", "")
        if not stamp.isdigit() or abs(time.time() - int(stamp)) > 300:
            return "stale"
        mac = hmac.new(SECRET.encode(), stamp.encode() + b"." + body, hashlib.sha256)
        return "ok" if hmac.compare_digest("v1=" + mac.hexdigest(), given) else "forged"

    def handle(self, handler: BaseHTTPRequestHandler) -> None:
        body = handler.rfile.read(int(handler.headers.get("Content-Length", "0")))
        verdict = self.check({k.lower(): v for k, v in handler.headers.items()}, body)
        self.verdicts.append(verdict)
        self.arrived.set()
        if self.hold is not None:
            self.hold.wait(30)
        if verdict != "ok":
            status = 401
        else:
            self.bodies.append(json.loads(body))
            status = 503 if len(self.bodies) <= self.fail_first else 200
        handler.send_response(status)
        handler.send_header("Content-Length", "0")
        handler.end_headers()
        if status == 200:
            self.accepted.set()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            state.handle(self)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    thread = threading.Thread(target=server.serve_forever, name="receiver", daemon=True)
    thread.start()
    yield state
    if state.hold is not None:
        state.hold.set()
    server.shutdown()
    server.server_close()


def _with_hook(settings: Settings, url: str, **console: object) -> Settings:
    hook = WebhookTarget(url=url, secret=SECRET)  # type: ignore[arg-type]
    values = {"webhooks": [hook], "webhook_retry_base_s": 0.05, "webhook_scan_s": 0.2, **console}
    return settings.model_copy(update={"console": settings.console.model_copy(update=values)})


def _overdue_site(database: Database, settings: Settings) -> None:
    with database.transaction() as session:
        lockers_repo.sync_lockers(session, settings.lockers)
    rent(database, "1", utcnow() - timedelta(hours=5), hours=1)
    add_member(database, "mark", "manager", "mark-password-22", utcnow())


def test_signature_verifies_and_refuses_tampering_and_replays() -> None:
    body = b'{"event": "alert"}'
    now = time.time()
    signature = sign(SECRET, int(now), body)
    assert verify(SECRET, str(int(now)), signature, body, now)
    assert not verify(SECRET, str(int(now)), signature, body + b" ", now)
    assert not verify("another-secret-0123456", str(int(now)), signature, body, now)
    assert not verify(SECRET, str(int(now)), signature, body, now + 301)  # a replay


def _run_until_accepted(ctx: ConsoleContext, receiver: Receiver) -> WebhookDispatcher:
    """The real dispatcher thread, until the receiver accepts one delivery; returns it stopped."""
    dispatcher = WebhookDispatcher(ctx)
    dispatcher.start()
    try:
        assert receiver.accepted.wait(30), receiver.verdicts
    finally:
        dispatcher.stop()
    return dispatcher


def test_alert_is_signed_retried_after_two_failures_and_shown(
    database: Database, settings: Settings, receiver: Receiver
) -> None:
    receiver.fail_first = 2
    settings = _with_hook(settings, receiver.url)
    _overdue_site(database, settings)
    app = create_app(settings, database, commands=RecordingCommands())
    ctx: ConsoleContext = app.state.console
    dispatcher = _run_until_accepted(ctx, receiver)
    assert receiver.verdicts == ["ok", "ok", "ok"]
    assert [b["attempt"] for b in receiver.bodies] == [1, 2, 3]
    assert len({b["delivery"] for b in receiver.bodies}) == 1
    alert = receiver.bodies[-1]["alert"]
    assert isinstance(alert, dict) and alert["kind"] == "rental_overdue"
    with database.transaction() as session:
        rows = session.query(WebhookDelivery).all()
        assert [(r.attempts, r.last_status, r.delivered_at is not None) for r in rows] == [
            (3, 200, True)
        ]
        gaps = rows[0].last_attempt_at - rows[0].created_at
    assert gaps >= timedelta(seconds=0.05 + 0.1)  # the back-off waited between tries
    assert dispatcher.queue_new_alerts() == 0  # announced once
    for url in serve(app):
        with httpx.Client(base_url=url, headers={"X-Forwarded-For": "198.51.100.9"}) as client:
            assert login(client, "mark", "mark-password-22").status_code == 303
            page = client.get("/alerts").text
    assert "delivered (3)" in page and receiver.url in page


def test_a_receiver_that_hangs_blocks_no_page(
    database: Database, settings: Settings, receiver: Receiver
) -> None:
    receiver.hold = threading.Event()
    settings = _with_hook(settings, receiver.url, webhook_timeout_s=30)
    _overdue_site(database, settings)
    app = create_app(settings, database, commands=RecordingCommands())
    dispatcher = WebhookDispatcher(app.state.console)
    dispatcher.start()
    try:
        assert receiver.arrived.wait(30)  # the dispatcher is inside its POST now
        for url in serve(app):
            with httpx.Client(base_url=url, headers={"X-Forwarded-For": "198.51.100.9"}) as c:
                assert login(c, "mark", "mark-password-22").status_code == 303
                started = time.monotonic()
                page = c.get("/alerts")
                took = time.monotonic() - started
        assert page.status_code == 200 and "queued (0)" in page.text
        assert took < 10  # far below the receiver's 30 s hold
        receiver.hold.set()
        assert receiver.accepted.wait(30)
    finally:
        receiver.hold.set()
        dispatcher.stop()


def test_a_bad_receiver_is_a_config_error_and_secrets_never_print(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("console:\n  webhooks:\n    - {url: 'ftp://x', secret: short}\n")
    with pytest.raises(ConfigError) as refused:
        load_settings(bad)
    assert "console.webhooks.0.url" in str(refused.value)
    assert "console.webhooks.0.secret" in str(refused.value)
    good = tmp_path / "good.yaml"
    good.write_text(
        f"console:\n  webhooks:\n    - {{url: 'https://h.example/x', secret: {SECRET}}}\n"
    )
    shown = json.dumps(load_settings(good).model_dump(mode="json"))
    assert SECRET not in shown and "https://h.example/x" in shown


def test_a_call_for_staff_is_sent_to_the_webhooks(
    database: Database, settings: Settings, receiver: Receiver
) -> None:
    settings = _with_hook(settings, receiver.url)
    with database.transaction() as session:
        lockers_repo.sync_lockers(session, settings.lockers)
        audit.append(
            session,
            at=utcnow(),
            actor="kiosk:kiosk-2",
            action=AuditAction.ASSISTANCE_REQUESTED,
            outcome=AuditOutcome.OK,
            reason="kiosk=kiosk-2 screen=home language=ko",
        )
    ctx: ConsoleContext = create_app(settings, database, commands=RecordingCommands()).state.console
    _run_until_accepted(ctx, receiver)
    alert = receiver.bodies[-1]["alert"]
    assert isinstance(alert, dict) and alert["kind"] == "assistance_requested"
    assert alert["kiosk_id"] == "kiosk-2" and "screen home" in str(alert["message"])
