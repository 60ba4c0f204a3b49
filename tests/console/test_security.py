"""Logins, lockouts, CSRF, session idle expiry, cookie attributes, API tokens."""

from __future__ import annotations

from console_kit import PASSWORDS, Console, csrf_of, logged_in, login, page_csrf

from lockers.console import accounts
from lockers.store import audit
from lockers.store.audit_values import AuditAction, AuditOutcome


def _login_outcomes(console: Console) -> list[str]:
    with console.database.transaction() as session:
        return [e.outcome for e in audit.entries(session, action=AuditAction.STAFF_LOGIN)]


def test_account_locks_after_five_failures_from_any_address(console: Console) -> None:
    kept = logged_in(console, "alice", "203.0.113.1")  # a session opened before the attack
    assert kept.get("/").status_code == 200
    for attempt in range(5):
        response = login(console.client(f"203.0.113.{10 + attempt}"), "alice", "wrong-password")
        assert response.status_code == 401
    refused = login(console.client("203.0.113.99"), "alice")  # right password, locked
    assert refused.status_code == 401
    assert "this account is locked" in refused.text
    assert kept.get("/").status_code == 303  # the lockout ended the open session at once
    assert _login_outcomes(console)[-2:] == [AuditOutcome.LOCKED_OUT, AuditOutcome.LOCKED_OUT]
    console.clock.advance(minutes=console.settings.console.login_lockout_min + 1)
    assert login(console.client("203.0.113.99"), "alice").status_code == 303


def test_address_locks_after_five_failures_on_any_account(console: Console) -> None:
    attacker = console.client("192.0.2.66")
    for name in ("nobody", "ghost", "mark", "ada", "alice"):
        assert login(attacker, name, "wrong-password").status_code == 401
    refused = login(attacker, "mark")  # right password, but from the locked address
    assert refused.status_code == 401
    assert "this address is locked" in refused.text
    assert login(console.client("192.0.2.67"), "mark").status_code == 303  # others still can
    with console.database.transaction() as session:
        failed = [e for e in audit.entries(session, action=AuditAction.STAFF_LOGIN)]
    assert all("wrong-password" not in (e.reason or "") for e in failed)  # no secret logged


def test_csrf_token_required_on_forms_and_htmx(console: Console) -> None:
    client = logged_in(console, "mark")
    form = {"action": "open", "reason": "0", "note": ""}
    assert client.post("/lockers/1/actions", data=form).status_code == 403
    wrong = {**form, "csrf_token": "not-the-token"}
    assert client.post("/lockers/1/actions", data=wrong).status_code == 403
    assert client.post("/logout").status_code == 403  # logout is a form too
    assert not console.commands.sent
    token = page_csrf(client)
    header = client.post("/lockers/1/actions", data=form, headers={"X-CSRF-Token": token})
    assert header.status_code == 303  # htmx sends it as a header (hx-headers on <body>)
    assert client.post("/lockers/1/actions", data={**form, "csrf_token": token}).status_code == 303
    assert len(console.commands.sent) == 2


def test_login_form_needs_its_own_token(console: Console) -> None:
    client = console.client()
    response = client.post("/login", data={"name": "alice", "password": PASSWORDS["alice"]})
    assert response.status_code == 403
    assert "lockers_session" not in client.cookies


def test_session_expires_when_idle(console: Console) -> None:
    client = logged_in(console, "alice")
    idle = console.settings.console.session_idle_min
    console.clock.advance(minutes=idle - 1)
    assert client.get("/").status_code == 200  # use resets the idle time
    console.clock.advance(minutes=idle - 1)
    assert client.get("/").status_code == 200
    console.clock.advance(minutes=idle + 1)
    expired = client.get("/")
    assert expired.status_code == 303
    assert "expired" in expired.headers["location"]
    console.clock.advance(seconds=-(idle + 1) * 60)  # even if the clock came back
    assert client.get("/").status_code == 303  # the session row is gone


def test_session_cookie_attributes(console: Console) -> None:
    client = console.client()
    response = login(client, "alice")
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "path=/" in cookie
    assert "secure" not in cookie  # plain HTTP here
    behind_tls = console.client(**{"X-Forwarded-Proto": "https"})
    form = behind_tls.get("/login")
    secure = behind_tls.post(
        "/login",
        data={"name": "alice", "password": PASSWORDS["alice"], "csrf_token": csrf_of(form.text)},
    )
    assert "; secure" in secure.headers["set-cookie"].lower()


def test_password_change_and_disable_end_sessions(console: Console) -> None:
    client = logged_in(console, "alice")
    accounts.set_password(console.database, "alice", "a-new-password-4", "test", console.clock.now)
    assert client.get("/").status_code == 303
    client = console.client()
    assert login(client, "alice", "a-new-password-4").status_code == 303
    accounts.change_account(console.database, "alice", "test", console.clock.now, disabled=True)
    assert client.get("/").status_code == 303
    assert login(console.client(), "alice", "a-new-password-4").status_code == 401


def test_short_password_refused(console: Console) -> None:
    admin = logged_in(console, "ada")
    response = admin.post(
        "/staff/alice/password",
        data={"password": "short", "csrf_token": page_csrf(admin, "/staff")},
    )
    assert response.status_code == 400
    assert "at least 10 characters" in response.text


def test_api_token_expiry_revocation_and_role_cap(console: Console) -> None:
    now = console.clock.now
    token = accounts.create_token(console.database, "mark", None, 2, "test", now)
    api = console.client(Authorization=f"Bearer {token}")
    me = api.get("/api/v1/me").json()
    assert (me["name"], me["role"], me["via"]) == ("mark", "manager", "token")
    console.clock.advance(days=2, seconds=1)
    expired = api.get("/api/v1/me")
    assert expired.status_code == 401 and "expired" in expired.json()["message"]
    assert console.client(Authorization="Bearer made-up").get("/api/v1/me").status_code == 401
    low = accounts.create_token(
        console.database, "mark", accounts.parse_role("attendant"), 1, "test", console.clock.now
    )
    low_api = console.client(Authorization=f"Bearer {low}")
    assert low_api.get("/audit.csv").status_code == 403  # the token's role, not mark's
    assert (
        low_api.post(
            "/api/v1/kiosks/kiosk-1/release-overdue", json={"reason": "locker found empty"}
        ).status_code
        == 403
    )
    manager_token = accounts.create_token(console.database, "mark", None, 1, "t", console.clock.now)
    manager_api = console.client(Authorization=f"Bearer {manager_token}")
    accounts.change_account(
        console.database, "mark", "test", console.clock.now, role=accounts.parse_role("attendant")
    )
    assert manager_api.get("/api/v1/me").json()["role"] == "attendant"  # demoted with mark
    try:
        accounts.create_token(
            console.database, "mark", accounts.parse_role("admin"), 1, "t", console.clock.now
        )
    except accounts.AccountError as exc:
        assert "cannot be admin" in exc.message
    else:
        raise AssertionError("a token above the member's role was created")
    token_id = 2
    assert accounts.revoke_token(console.database, token_id, "test", console.clock.now)
    assert low_api.get("/api/v1/me").status_code == 401
