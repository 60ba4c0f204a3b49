"""The console over the real site store: kiosks from the registry, actions as site commands
that the owning kiosk claims and finishes, results awaited, expiry when nobody claims."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta

import httpx
import pytest
from console_kit import add_member, serve

from lockers.config import Settings
from lockers.console import accounts
from lockers.console.app import create_app
from lockers.store import audit, lockers_repo, site, site_commands
from lockers.store.audit_values import AuditAction
from lockers.store.db import Database
from lockers.store.models import CommandResult, utcnow
from lockers.store.site_listen import CommandListener

KIOSK = "kiosk-1"


def _register(database: Database, kiosk_id: str, beat_ago_s: float = 0) -> str:
    identity = site.KioskIdentity(kiosk_id, site.new_instance_token(), f"Bank {kiosk_id}")
    with database.transaction() as session:
        site.register_kiosk(session, identity, utcnow() - timedelta(seconds=beat_ago_s))
    return identity.instance


@pytest.fixture
def site_api(database: Database, settings: Settings) -> Iterator[httpx.Client]:
    with database.transaction() as session:
        lockers_repo.sync_lockers(session, settings.lockers, KIOSK)
    add_member(database, "mark", "manager", "mark-password-22", utcnow())
    token = accounts.create_token(database, "mark", None, 1, "test", utcnow())
    quick = settings.model_copy(
        update={"site": settings.site.model_copy(update={"command_ttl_s": 1.0})}
    )
    for url in serve(create_app(quick, database)):
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}) as client:
            yield client


def _execute_one(database: Database, instance: str, stop: threading.Event) -> None:
    """The owning kiosk's side: wait for a command, claim it, report the door opened."""
    with CommandListener(database, KIOSK, site_commands.COMMANDS_CHANNEL, 0.05) as listener:
        while not stop.is_set():
            with database.transaction() as session:
                claimed = site_commands.claim_next_commands(session, KIOSK, instance, utcnow())
            for command in claimed:
                with database.transaction() as session:
                    site_commands.finish_command(
                        session, command.id, instance, CommandResult.OPENED, utcnow()
                    )
                return
            listener.wait(1.0)


def test_open_reaches_the_owning_kiosk_and_returns_its_result(
    site_api: httpx.Client, database: Database
) -> None:
    instance = _register(database, KIOSK)
    stop = threading.Event()
    kiosk = threading.Thread(target=_execute_one, args=(database, instance, stop))
    kiosk.start()
    try:
        response = site_api.post(
            "/api/v1/lockers/2/actions/open?wait=10", json={"reason": "other", "note": "remote"}
        )
    finally:
        stop.set()
        kiosk.join(10)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["state"], body["kiosk_id"], body["staff"]) == ("opened", KIOSK, "mark")
    kiosks = site_api.get("/api/v1/kiosks").json()
    assert [(k["kiosk_id"], k["online"]) for k in kiosks] == [(KIOSK, True)]
    with database.transaction() as session:
        sent = list(audit.entries(session, action=AuditAction.COMMAND_SENT))
    assert sent and sent[-1].actor == "staff:mark" and "from console" in (sent[-1].reason or "")
    metrics = site_api.get("/metrics").text
    assert 'lockers_commands_total{result="opened"} 1.0' in metrics
    assert f'lockers_kiosk_up{{kiosk="{KIOSK}"}} 1.0' in metrics


def test_unclaimed_command_expires_and_offline_kiosk_shows(
    site_api: httpx.Client, database: Database
) -> None:
    _register(database, KIOSK, beat_ago_s=3600)  # registered, silent for an hour
    response = site_api.post("/api/v1/lockers/1/actions/open?wait=5", json={"reason": "other"})
    assert response.status_code == 200, response.text
    assert response.json()["state"] == CommandResult.EXPIRED.value
    kiosk = site_api.get("/api/v1/kiosks").json()[0]
    assert kiosk["online"] is False and kiosk["problems"][0].startswith("offline")
    again = site_api.get(f"/api/v1/commands/{response.json()['id']}").json()
    assert again["state"] == "expired" and not again["pending"]


def test_command_for_a_kiosk_that_never_started_is_refused(site_api: httpx.Client) -> None:
    response = site_api.post("/api/v1/lockers/1/actions/open", json={"reason": "other"})
    assert response.status_code == 400
    assert "never started" in response.json()["message"]
