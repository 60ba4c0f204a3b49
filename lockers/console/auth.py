"""Who is asking, and may they: sessions (cookie), API tokens (bearer), roles, CSRF.

Every route declares what it needs with ``Depends(require(StaffRole.X))``; there is no route
without one except /login, /healthz and the static files (the permission test walks them all).
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from lockers.console.context import (
    CSRF_FIELD,
    CSRF_HEADER,
    SESSION_COOKIE,
    ConsoleContext,
    context_of,
)
from lockers.console.passwords import secret_hash
from lockers.store import console_repo
from lockers.store.console_models import StaffRole
from lockers.store.console_repo import Member

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Last use is written at most this often: a read-only request then commits no write (a SQLite
# commit is an fsync), and the idle expiry is still exact to within these seconds.
TOUCH_EVERY = timedelta(seconds=20)


class NotAuthenticated(Exception):
    """No valid session or token (pages redirect to the login, the API answers 401)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Forbidden(Exception):
    """Authenticated, but the role, kiosk scope or CSRF token does not allow this (403)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Principal:
    """The staff member behind a request and the role this request acts with."""

    member: Member
    role: StaffRole
    via: str  # "session" or "token"
    csrf_token: str | None = None
    session_hash: str | None = None

    @property
    def name(self) -> str:
        return self.member.name

    @property
    def actor(self) -> str:
        return f"staff:{self.member.name}"

    def may_act_on(self, kiosk_id: str) -> bool:
        return self.member.kiosks is None or kiosk_id in self.member.kiosks


def role_of(value: str) -> StaffRole:
    return StaffRole.of_stored(value)


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def _from_token(ctx: ConsoleContext, token: str, now: datetime) -> Principal:
    with ctx.database.transaction() as session:
        found = console_repo.find_token(session, secret_hash(token))
        if found is None:
            raise NotAuthenticated("unknown API token")
        view, member = found
        if view.revoked_at is not None:
            raise NotAuthenticated("this API token was revoked")
        if view.expires_at <= now:
            raise NotAuthenticated(f"this API token expired at {view.expires_at:%Y-%m-%d %H:%M}Z")
        if member.disabled:
            raise NotAuthenticated(f"the console account of {member.name} is disabled")
        if view.last_used_at is None or now - view.last_used_at > TOUCH_EVERY:
            console_repo.mark_token_used(session, view.id, now)
    token_role, staff_role = role_of(view.role), role_of(member.role)
    # A demoted member's tokens are demoted with them.
    role = token_role if staff_role.includes(token_role) else staff_role
    return Principal(member, role, "token")


def _from_session(ctx: ConsoleContext, session_id: str, now: datetime) -> Principal:
    id_hash = secret_hash(session_id)
    idle = timedelta(minutes=ctx.settings.console.session_idle_min)
    with ctx.database.transaction() as session:
        live = console_repo.find_session(session, id_hash)
        if live is None:
            raise NotAuthenticated("please log in")
        member = live.member
        if now - live.last_seen_at > idle:
            console_repo.end_session(session, id_hash)
            expired = True
        elif member.disabled or (member.locked_until is not None and member.locked_until > now):
            console_repo.end_session(session, id_hash)  # lockout ends the session at once
            raise NotAuthenticated(f"the console account of {member.name} is locked")
        else:
            if now - live.last_seen_at > TOUCH_EVERY:
                console_repo.touch_session(session, id_hash, now)
            expired = False
    if expired:  # raised after the commit, so the expired session is really gone
        raise NotAuthenticated("your session expired; please log in again")
    return Principal(member, role_of(member.role), "session", live.csrf_token, id_hash)


def principal(request: Request) -> Principal:
    """The authenticated caller (cached per request).

    Raises:
        NotAuthenticated: no, unknown, expired or revoked credentials.
    """
    cached = getattr(request.state, "principal", None)
    if isinstance(cached, Principal):
        return cached
    ctx = context_of(request)
    now = ctx.clock()
    token = _bearer(request)
    if token is not None:
        found = _from_token(ctx, token, now)
    else:
        session_id = request.cookies.get(SESSION_COOKIE)
        if not session_id:
            raise NotAuthenticated("please log in")
        found = _from_session(ctx, session_id, now)
    request.state.principal = found
    return found


async def check_csrf(request: Request, who: Principal) -> None:
    """A state-changing request made with a session cookie must carry the session's CSRF token
    (form field or ``X-CSRF-Token`` header); bearer-token requests carry no cookie to abuse."""
    if request.method in SAFE_METHODS or who.via != "session" or who.csrf_token is None:
        return
    sent = request.headers.get(CSRF_HEADER)
    if sent is None and "form" in request.headers.get("content-type", ""):
        form = await request.form()
        value = form.get(CSRF_FIELD)
        sent = value if isinstance(value, str) else None
    if not sent or not hmac.compare_digest(sent, who.csrf_token):
        raise Forbidden("the form's security token is missing or stale: reload the page")


def require(role: StaffRole) -> Callable[[Request], Awaitable[Principal]]:
    """A dependency: the caller, authenticated, holding at least ``role``, CSRF checked."""

    async def dependency(request: Request) -> Principal:
        who = await run_in_threadpool(principal, request)  # database work off the loop
        await check_csrf(request, who)
        if not who.role.includes(role):
            raise Forbidden(f"this needs the {role.value} role; {who.name} is {who.role.value}")
        return who

    dependency.__name__ = f"require_{role.value}"
    return dependency


REQUIRE_ATTENDANT = require(StaffRole.ATTENDANT)
REQUIRE_MANAGER = require(StaffRole.MANAGER)
REQUIRE_ADMIN = require(StaffRole.ADMIN)
