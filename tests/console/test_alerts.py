"""Alerts derived from the site's state, newest first; acknowledged by a named manager."""

from __future__ import annotations

from datetime import timedelta

from console_kit import Console, logged_in, page_csrf, rent
from sqlalchemy import update

from lockers.console import accounts
from lockers.store import audit
from lockers.store.audit_values import AuditAction, AuditOutcome
from lockers.store.models import DoorStateValue, Locker


def _stage(console: Console) -> None:
    now = console.clock.now
    rent(console.database, "1", now - timedelta(hours=5), hours=1)  # overdue
    with console.database.transaction() as session:
        session.execute(
            update(Locker)
            .where(Locker.label == "2")
            .values(attention="door jammed after a staff open", updated_at=now - timedelta(hours=1))
        )
        session.execute(
            update(Locker)
            .where(Locker.label == "3")
            .values(door_state=DoorStateValue.OPEN, updated_at=now - timedelta(minutes=30))
        )
        for minutes in (1, 2, 3):
            audit.append(
                session,
                at=now - timedelta(minutes=minutes),
                actor="kiosk:kiosk-1",
                action=AuditAction.LIVENESS,
                outcome=AuditOutcome.PRESENTATION_ATTACK,
            )


def test_alerts_listed_newest_first_and_acknowledged(console: Console) -> None:
    _stage(console)
    token = accounts.create_token(console.database, "mark", None, 1, "t", console.clock.now)
    api = console.client(Authorization=f"Bearer {token}")
    listed = api.get("/api/v1/alerts").json()
    kinds = [a["kind"] for a in listed]
    assert set(kinds) == {"rental_overdue", "door_jammed", "door_left_open", "presentation_attacks"}
    since = [a["since"] for a in listed]
    assert since == sorted(since, reverse=True)
    metrics = api.get("/metrics").text
    assert 'lockers_alerts_open{kind="door_jammed"} 1.0' in metrics
    attendant = logged_in(console, "alice")
    jammed = next(a for a in listed if a["kind"] == "door_jammed")
    refused = attendant.post(
        "/alerts/ack", data={"key": jammed["key"], "csrf_token": page_csrf(attendant, "/alerts")}
    )
    assert refused.status_code == 403
    manager = logged_in(console, "mark")
    done = manager.post(
        "/alerts/ack",
        data={
            "key": jammed["key"],
            "note": "on my way",
            "csrf_token": page_csrf(manager, "/alerts"),
        },
    )
    assert done.status_code == 303
    after = {a["key"]: a for a in api.get("/api/v1/alerts").json()}
    assert after[jammed["key"]]["acknowledged_by"] == "mark"
    with console.database.transaction() as session:
        acks = list(audit.entries(session, action=AuditAction.ALERT_ACK))
    assert (
        len(acks) == 1 and acks[0].actor == "staff:mark" and "on my way" in (acks[0].reason or "")
    )
    assert "door_jammed" not in api.get("/metrics").text.split("lockers_alerts_open")[-1]
    gone = api.post("/api/v1/alerts/ack", json={"key": "door_jammed:999:x"})
    assert gone.status_code == 400 and "no open alert" in gone.json()["message"]
    page = manager.get("/alerts")
    assert page.status_code == 200 and "door jammed after a staff open" in page.text


def test_no_free_locker_alert(console: Console) -> None:
    now = console.clock.now
    for label in ("1", "2", "3", "4"):
        rent(console.database, label, now - timedelta(minutes=5), hours=4)
    token = accounts.create_token(console.database, "alice", None, 1, "t", now)
    listed = console.client(Authorization=f"Bearer {token}").get("/api/v1/alerts").json()
    assert [a["kind"] for a in listed] == ["no_free_locker"]
