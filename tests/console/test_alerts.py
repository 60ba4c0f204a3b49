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


def test_door_forced_open_recorded_by_a_kiosk_is_an_alert(console: Console) -> None:
    now = console.clock.now
    with console.database.transaction() as session:
        for minutes, outcome in ((3, AuditOutcome.FORCED_OPEN), (2, AuditOutcome.JAMMED)):
            audit.append(
                session,
                at=now - timedelta(minutes=minutes),
                actor="kiosk:kiosk-1",
                action=AuditAction.DOOR_ALERT,
                outcome=outcome,
                locker_label="4",
                reason="board 1 ch 4",
            )
        audit.append(  # a day old: no longer listed
            session,
            at=now - timedelta(hours=25),
            actor="kiosk:kiosk-1",
            action=AuditAction.DOOR_ALERT,
            outcome=AuditOutcome.FORCED_OPEN,
            locker_label="3",
        )
    token = accounts.create_token(console.database, "alice", None, 1, "t", now)
    listed = console.client(Authorization=f"Bearer {token}").get("/api/v1/alerts").json()
    doors = [(a["kind"], a["locker_label"], a["kiosk_id"]) for a in listed]
    assert doors == [("door_jammed", "4", "kiosk-1"), ("door_forced_open", "4", "kiosk-1")]
    assert "forced open: board 1 ch 4" in listed[1]["message"]


def test_a_call_for_staff_at_a_kiosk_is_an_alert_until_acknowledged(console: Console) -> None:
    """The kiosk's "call staff" entry (as the kiosk's assistance service writes it: actor
    ``kiosk:<id>``, screen and language in the reason) is an alert of its own kind, newest
    first, in /metrics, acknowledged by a manager, and sent to the webhooks like any other."""
    now = console.clock.now
    with console.database.transaction() as session:
        for minutes, reason, label in (
            (4, "kiosk=kiosk-1 screen=home language=ko", None),
            (1, "kiosk=kiosk-2 screen=retrieve_scan language=en", "2"),
        ):
            audit.append(
                session,
                at=now - timedelta(minutes=minutes),
                actor=reason.split()[0].replace("kiosk=", "kiosk:"),
                action=AuditAction.ASSISTANCE_REQUESTED,
                outcome=AuditOutcome.OK,
                locker_label=label,
                reason=reason,
            )
    token = accounts.create_token(console.database, "mark", None, 1, "t", now)
    api = console.client(Authorization=f"Bearer {token}")
    listed = [a for a in api.get("/api/v1/alerts").json() if a["kind"] == "assistance_requested"]
    assert [(a["kiosk_id"], a["locker_label"]) for a in listed] == [
        ("kiosk-2", "2"),
        ("kiosk-1", None),
    ]
    assert listed[0]["message"] == (
        "assistance requested at kiosk-2 (screen retrieve_scan, locker 2, language en)"
    )
    assert 'lockers_alerts_open{kind="assistance_requested"} 2.0' in api.get("/metrics").text
    manager = logged_in(console, "mark")
    page = manager.get("/alerts")
    assert page.text.count('data-kind="assistance_requested"') == 2
    done = manager.post(
        "/alerts/ack",
        data={
            "key": listed[0]["key"],
            "note": "helped at the screen",
            "csrf_token": page_csrf(manager, "/alerts"),
        },
    )
    assert done.status_code == 303
    assert 'lockers_alerts_open{kind="assistance_requested"} 1.0' in api.get("/metrics").text
    with console.database.transaction() as session:
        acks = list(audit.entries(session, action=AuditAction.ALERT_ACK))
    assert len(acks) == 1 and "assistance_requested at kiosk-2" in (acks[0].reason or "")
