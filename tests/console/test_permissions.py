"""Every route × every role × unauthenticated: the role each route declares is the one it
enforces, pages redirect strangers to the login, the API answers 401 with a JSON message."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from console_kit import ROLES, Console, add_member, logged_in, page_csrf

from lockers.console import accounts
from lockers.console.app import route_table
from lockers.store.console_models import StaffRole

A, M, AD = StaffRole.ATTENDANT, StaffRole.MANAGER, StaffRole.ADMIN
REASON = {"reason": "0", "note": "permission walk"}
API_REASON = {"reason": "customer not recognised"}
API_RESET = {"reason": "overdue, belongings removed"}

# (method, route as declared, concrete path, least role or None for public, form/json body)
ROUTES: list[tuple[str, str, str, StaffRole | None, dict[str, object] | None]] = [
    ("GET", "/", "/", A, None),
    ("GET", "/grid", "/grid", A, None),
    ("GET", "/lockers/{label}", "/lockers/1", A, None),
    ("POST", "/lockers/{label}/actions", "/lockers/1/actions", A, {"action": "open", **REASON}),
    ("GET", "/commands/{command_id}", "/commands/1", A, None),
    ("GET", "/commands.csv", "/commands.csv?ids=1", M, None),
    ("GET", "/kiosks/{kiosk_id}/overdue", "/kiosks/kiosk-1/overdue", M, None),
    ("POST", "/kiosks/{kiosk_id}/release-overdue", "/kiosks/kiosk-1/release-overdue", M, REASON),
    ("GET", "/audit", "/audit", A, None),
    ("GET", "/alerts", "/alerts", A, None),
    ("POST", "/alerts/ack", "/alerts/ack", M, {"key": "no-such-alert"}),
    ("GET", "/api/v1/alerts", "/api/v1/alerts", A, None),
    ("POST", "/api/v1/alerts/ack", "/api/v1/alerts/ack", M, {"key": "no-such-alert"}),
    ("GET", "/audit.csv", "/audit.csv", M, None),
    ("GET", "/staff", "/staff", AD, None),
    ("POST", "/staff/{name}/password", "/staff/zed/password", AD, {"password": "zed-password-9"}),
    ("POST", "/staff/{name}/account", "/staff/zed/account", AD, {"role": "attendant"}),
    ("POST", "/tokens", "/tokens", AD, {"staff": "zed", "expires_days": "1"}),
    ("POST", "/tokens/{token_id}/revoke", "/tokens/999/revoke", AD, {}),
    ("POST", "/logout", "/logout", A, {}),
    ("GET", "/login", "/login", None, None),
    ("POST", "/login", "/login", None, {"name": "x", "password": "y"}),
    ("GET", "/healthz", "/healthz", None, None),
    ("GET", "/metrics", "/metrics", A, None),
    ("GET", "/api/v1/me", "/api/v1/me", A, None),
    ("GET", "/api/v1/kiosks", "/api/v1/kiosks", A, None),
    ("GET", "/api/v1/lockers", "/api/v1/lockers", A, None),
    ("GET", "/api/v1/audit", "/api/v1/audit", A, None),
    ("GET", "/api/v1/commands/{command_id}", "/api/v1/commands/1", A, None),
    (
        "POST",
        "/api/v1/lockers/{label}/actions/{action}",
        "/api/v1/lockers/1/actions/open",
        A,
        API_REASON,
    ),
    (
        "POST",
        "/api/v1/kiosks/{kiosk_id}/release-overdue",
        "/api/v1/kiosks/kiosk-1/release-overdue",
        M,
        API_RESET,
    ),
]
PUBLIC_EXTRA = {("GET", "/api/v1/openapi.json")}


def test_the_table_covers_every_route() -> None:
    declared = {(method, route) for method, route, *_ in ROUTES}
    assert set(route_table()) == declared


def _is_api(path: str) -> bool:
    return path.startswith("/api/") or path == "/metrics"


def _call(
    client: httpx.Client, method: str, path: str, body: dict[str, object] | None, csrf: str | None
) -> httpx.Response:
    if method == "GET":
        return client.get(path)
    if _is_api(path):
        headers = {} if csrf is None else {"X-CSRF-Token": csrf}
        return client.post(path, json=body or {}, headers=headers)
    data = {k: str(v) for k, v in (body or {}).items()}
    if csrf is not None:
        data["csrf_token"] = csrf
    return client.post(path, data=data)


@pytest.fixture
def walk(console: Console) -> Console:
    add_member(console.database, "zed", "attendant", "zed-password-0", console.clock.now)
    return console


def test_unauthenticated(walk: Console) -> None:
    stranger = walk.client()
    for method, _route, path, least, body in ROUTES:
        response = _call(stranger, method, path, body, None)
        label = f"{method} {path}: {response.status_code} {response.text[:200]}"
        if least is None:
            # public: GETs answer; POST /login without its form token is refused as CSRF
            assert response.status_code == (200 if method == "GET" else 403), label
        elif _is_api(path):
            assert response.status_code == 401, label
            assert response.json()["message"], label
        else:
            assert response.status_code == 303, label
            assert response.headers["location"].startswith("/login"), label


@pytest.mark.parametrize("name", sorted(ROLES))
def test_every_route_with_every_role(walk: Console, name: str) -> None:
    role = StaffRole(ROLES[name])
    browser = logged_in(walk, name)
    token = accounts.create_token(walk.database, name, None, 1, "test", walk.clock.now)
    api = walk.client(Authorization=f"Bearer {token}")
    for method, route, path, least, body in ROUTES:
        if least is None or route == "/logout":
            continue
        if _is_api(path):
            response = _call(api, method, path, body, None)
        else:
            response = _call(browser, method, path, body, page_csrf(browser))
        allowed = role.includes(least)
        label = (
            f"{name} ({role.value}) {method} {path}: {response.status_code} {response.text[:200]}"
        )
        if allowed:
            assert response.status_code not in (401, 403), label
            assert not response.headers.get("location", "").startswith("/login"), label
        else:
            assert response.status_code == 403, label
            if _is_api(path):
                assert response.json()["message"], label
    # logout last: the session ends at once
    assert _call(browser, "POST", "/logout", {}, page_csrf(browser)).status_code == 303
    assert browser.get("/").status_code == 303


def test_openapi_is_public_and_lists_only_the_api(console: Console) -> None:
    document = console.client().get("/api/v1/openapi.json").json()
    assert all(path.startswith("/me") or "/" in path for path in document["paths"])
    assert {"/api/v1/lockers", "/api/v1/audit"} <= set(document["paths"])
    assert not [p for p in document["paths"] if not p.startswith("/api/v1/")]
    assert PUBLIC_EXTRA


def test_kiosk_scope_limits_actions(console: Console) -> None:
    accounts.change_account(
        console.database, "mark", "test", console.clock.now, kiosks=["kiosk-elsewhere"]
    )
    client = logged_in(console, "mark")
    response = client.post(
        "/lockers/1/actions", data={"action": "open", **REASON, "csrf_token": page_csrf(client)}
    )
    assert response.status_code == 403
    assert "may not act on kiosk" in response.text
    assert not console.commands.sent
    accounts.change_account(console.database, "mark", "test", console.clock.now, kiosks=None)
    response = client.post(
        "/lockers/1/actions", data={"action": "open", **REASON, "csrf_token": page_csrf(client)}
    )
    assert response.status_code == 303
    assert [c.locker_label for c in console.commands.sent.values()] == ["1"]
    assert timedelta(0) < console.commands.sent[1].expires_at - console.clock.now
