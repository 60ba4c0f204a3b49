"""Audit filters and CSV, metrics names, healthz, actions (pending → result), release overdue."""

from __future__ import annotations

import csv
import io
import threading
from datetime import timedelta

from console_kit import Console, logged_in, page_csrf, rent
from prometheus_client.parser import text_string_to_metric_families

from lockers.console import accounts
from lockers.store import audit
from lockers.store.audit_values import AuditAction, AuditOutcome


def _seed_audit(console: Console) -> None:
    t0 = console.clock.now - timedelta(days=3)
    rows = [
        (t0, "kiosk:kiosk-1", AuditAction.REGISTER, "1"),
        (t0 + timedelta(days=1), "staff:mark", AuditAction.FORCE_OPEN, "2"),
        (t0 + timedelta(days=1, hours=1), "staff:alice", AuditAction.FORCE_OPEN, "1"),
        (t0 + timedelta(days=2), "kiosk:kiosk-1", AuditAction.RETRIEVE, "1"),
    ]
    with console.database.transaction() as session:
        for at, actor, action, label in rows:
            audit.append(
                session,
                at=at,
                actor=actor,
                action=action,
                outcome=AuditOutcome.OK,
                locker_label=label,
                reason=f"seeded {action}",
            )


def _api(console: Console, name: str) -> object:
    token = accounts.create_token(console.database, name, None, 1, "test", console.clock.now)
    return console.client(Authorization=f"Bearer {token}")


def test_audit_filters_paging_and_csv(console: Console) -> None:
    _seed_audit(console)
    api = _api(console, "mark")
    get = api.get  # type: ignore[attr-defined]

    def actions_of(**params: str) -> list[str]:
        return [
            e["reason"]
            for e in get("/api/v1/audit", params=params).json()["entries"]
            if (e["reason"] or "").startswith("seeded")
        ]

    assert actions_of(staff="mark") == ["seeded force_open"]
    assert actions_of(locker="1", action="force_open") == ["seeded force_open"]
    assert len(actions_of(locker="1")) == 3
    since = (console.clock.now - timedelta(days=2, hours=12)).isoformat()
    until = (console.clock.now - timedelta(days=1)).isoformat()  # exclusive: not the retrieve
    assert len(actions_of(since=since, until=until)) == 2
    assert len(actions_of(kiosk="kiosk-1")) == 4  # one bank until issue 18 gives lockers a kiosk
    bad = get("/api/v1/audit", params={"since": "yesterday"})
    assert bad.status_code == 400 and "since" in bad.json()["message"]
    assert get("/api/v1/audit", params={"action": "nope"}).status_code == 400
    browser = logged_in(console, "mark")
    page = browser.get("/audit", params={"staff": "alice"})
    assert page.status_code == 200 and "seeded force_open" in page.text
    exported = browser.get("/audit.csv", params={"locker": "1"})
    assert exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert [r["action"] for r in rows] == ["register", "force_open", "retrieve"]
    with console.database.transaction() as session:
        exports = list(audit.entries(session, action=AuditAction.AUDIT_EXPORT))
    assert (
        exports and exports[-1].actor == "staff:mark" and "locker=1" in (exports[-1].reason or "")
    )


def test_audit_pages_by_id(console: Console) -> None:
    with console.database.transaction() as session:
        for i in range(console.settings.console.page_size * 2 + 5):
            audit.append(
                session,
                at=console.clock.now,
                actor="cli",
                action=AuditAction.HOUSEKEEPING,
                outcome=AuditOutcome.OK,
                reason=f"row {i}",
            )
    api = _api(console, "alice")
    seen: list[int] = []
    params: dict[str, str] = {"action": "housekeeping"}
    while True:
        body = api.get("/api/v1/audit", params=params).json()  # type: ignore[attr-defined]
        seen += [e["id"] for e in body["entries"]]
        if body["next_before"] is None:
            break
        params["before"] = str(body["next_before"])
    assert len(seen) == len(set(seen)) == console.settings.console.page_size * 2 + 5
    assert seen == sorted(seen, reverse=True)


def test_metrics_follow_the_naming_rules(console: Console) -> None:
    rent(console.database, "2", console.clock.now - timedelta(hours=5), hours=1)  # overdue
    stranger = console.client().get("/metrics")
    assert stranger.status_code == 401 and stranger.json()["message"]
    text = _api(console, "alice").get("/metrics").text  # type: ignore[attr-defined]
    families = list(text_string_to_metric_families(text))
    names = {f.name for f in families}
    assert {
        "lockers_lockers",
        "lockers_unlocks",
        "lockers_retrieves",
        "lockers_commands",
        "lockers_presentation_attacks_refused",
        "lockers_kiosk_up",
    } <= names
    for family in families:
        assert family.name.startswith("lockers_") and not family.name.startswith("lockers_lockers_")
        for sample in family.samples:
            if family.type == "counter":
                assert sample.name.endswith(("_total", "_created")), sample.name
            else:
                assert not sample.name.endswith("_total"), sample.name
            assert not {"staff", "name", "actor", "user", "label"} & set(sample.labels)
    lockers = {
        (s.labels["kiosk"], s.labels["state"]): s.value
        for f in families
        if f.name == "lockers_lockers"
        for s in f.samples
    }
    assert lockers[("kiosk-1", "overdue")] == 1 and lockers[("kiosk-1", "free")] == 3


def test_metrics_public_when_configured(console: Console) -> None:
    from console_kit import serve  # the same real server, another app

    from lockers.console.app import create_app

    settings = console.settings.model_copy(
        update={"console": console.settings.console.model_copy(update={"metrics_public": True})}
    )
    for url in serve(create_app(settings, console.database, clock=console.clock)):
        import httpx

        with httpx.Client(base_url=url) as client:
            assert client.get("/metrics").status_code == 200


def test_healthz(console: Console) -> None:
    response = console.client().get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


def test_open_shows_pending_then_result(console: Console) -> None:
    client = logged_in(console, "alice")
    sent = client.post(
        "/lockers/3/actions",
        data={"action": "open", "reason": "1", "note": "bag left", "csrf_token": page_csrf(client)},
    )
    assert sent.status_code == 303 and sent.headers["location"] == "/commands/1"
    command = console.commands.sent[1]
    assert (command.action, command.staff, command.reason) == (
        "open",
        "alice",
        "고객이 물건을 두고 감 (bag left)",
    )  # ui.language ko, as the kiosk audits
    pending = client.get("/commands/1")
    assert "Pending" in pending.text and 'hx-trigger="every 1s"' in pending.text
    console.commands.finish(1, "opened", console.clock.now)
    done = client.get("/commands/1", params={"fragment": "1"})
    assert "Result: <b>opened</b>" in done.text and "hx-trigger" not in done.text
    reset = client.post(
        "/lockers/3/actions",
        data={"action": "reset", "reason": "0", "csrf_token": page_csrf(client)},
    )
    assert reset.status_code == 403  # attendant: open only
    bad = client.post(
        "/lockers/3/actions",
        data={"action": "open", "reason": "99", "csrf_token": page_csrf(client)},
    )
    assert bad.status_code == 400 and "not offered" in bad.text


def test_api_action_waits_for_the_result(console: Console) -> None:
    api = _api(console, "mark")
    finished = threading.Event()

    def finish_when_sent() -> None:
        while 1 not in console.commands.sent:
            if finished.wait(0.01):
                return
        console.commands.finish(1, "done", console.clock.now)

    worker = threading.Thread(target=finish_when_sent)
    worker.start()
    try:
        response = api.post(
            "/api/v1/lockers/4/actions/out_of_service?wait=5",  # type: ignore[attr-defined]
            json={"reason": "lock faulty", "note": "rattles"},
        )
    finally:
        finished.set()
        worker.join()
    assert response.status_code == 200, response.text
    assert response.json()["state"] == "done" and not response.json()["pending"]
    pending = api.post("/api/v1/lockers/4/actions/open", json={"reason": "other"})  # type: ignore[attr-defined]
    assert pending.status_code == 202 and pending.json()["state"] == "sent"
    unknown = api.post("/api/v1/lockers/99/actions/open", json={"reason": "other"})  # type: ignore[attr-defined]
    assert unknown.status_code == 400 and "no locker" in unknown.json()["message"]
    invalid = api.post("/api/v1/lockers/4/actions/open", json={})  # type: ignore[attr-defined]
    assert invalid.status_code == 422 and invalid.json()["message"].startswith("invalid request")


def test_release_all_overdue(console: Console) -> None:
    now = console.clock.now
    rent(console.database, "1", now - timedelta(hours=5), hours=1)
    rent(console.database, "2", now - timedelta(hours=5), hours=2)
    rent(console.database, "3", now - timedelta(minutes=5), hours=1)  # not overdue
    client = logged_in(console, "mark")
    confirm = client.get("/kiosks/kiosk-1/overdue")
    assert confirm.status_code == 200
    assert "Reset these 2 lockers" in confirm.text
    done = client.post(
        "/kiosks/kiosk-1/release-overdue",
        data={"reason": "0", "csrf_token": csrf_from(confirm.text)},
    )
    assert done.status_code == 200
    assert sorted(c.locker_label for c in console.commands.sent.values()) == ["1", "2"]
    console.commands.finish(1, "done", now)
    report = client.get("/commands.csv", params={"ids": "1,2"})
    rows = list(csv.DictReader(io.StringIO(report.text)))
    assert [(r["locker"], r["action"], r["state"]) for r in rows] == [
        ("1", "reset", "done"),
        ("2", "reset", "sent"),
    ]


def csrf_from(html: str) -> str:
    from console_kit import csrf_of

    return csrf_of(html)
