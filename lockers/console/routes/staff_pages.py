"""Staff accounts and API tokens (admin): passwords, roles, kiosk scopes, disabling, tokens."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from lockers.console import accounts
from lockers.console.auth import REQUIRE_ADMIN, Principal
from lockers.console.context import ConsoleContext, context_of
from lockers.console.views import page
from lockers.store import console_repo

router = APIRouter(include_in_schema=False)
Admin = Annotated[Principal, Depends(REQUIRE_ADMIN)]


def _staff_page(request: Request, who: Principal, **extra: object) -> Response:
    ctx: ConsoleContext = context_of(request)
    with ctx.database.transaction() as session:
        members = console_repo.members(session)
        tokens = console_repo.tokens(session)
        kiosks = ctx.site.kiosks(session, ctx.clock())
    return page(request, "staff.html", who, members=members, tokens=tokens, kiosks=kiosks, **extra)


@router.get("/staff", response_class=HTMLResponse)
def staff(request: Request, who: Admin) -> Response:
    return _staff_page(request, who)


@router.post("/staff/{name}/password")
def set_password(
    request: Request,
    name: str,
    who: Admin,
    password: Annotated[str, Form(max_length=1024)],
) -> Response:
    ctx = context_of(request)
    accounts.set_password(ctx.database, name, password, who.actor, ctx.clock())
    return RedirectResponse("/staff", status_code=303)


@router.post("/staff/{name}/account")
def change_account(
    request: Request,
    name: str,
    who: Admin,
    role: Annotated[str, Form(max_length=16)] = "",
    kiosks: Annotated[str, Form(max_length=2000)] = "",
    all_kiosks: Annotated[bool, Form()] = False,
    disabled: Annotated[str, Form(max_length=8)] = "",
) -> Response:
    """``kiosks``: comma-separated ids (empty with ``all_kiosks`` = every kiosk)."""
    ctx = context_of(request)
    scope: list[str] | None = None
    if not all_kiosks:
        scope = [k.strip() for k in kiosks.split(",") if k.strip()]
    accounts.change_account(
        ctx.database,
        name,
        who.actor,
        ctx.clock(),
        role=accounts.parse_role(role) if role else None,
        kiosks=scope,
        disabled={"yes": True, "no": False}.get(disabled),
    )
    return RedirectResponse("/staff", status_code=303)


@router.post("/tokens", response_class=HTMLResponse)
def create_token(
    request: Request,
    who: Admin,
    staff: Annotated[str, Form(max_length=64)],
    expires_days: Annotated[float, Form(gt=0, le=3650)],
    role: Annotated[str, Form(max_length=16)] = "",
    note: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    ctx = context_of(request)
    token = accounts.create_token(
        ctx.database,
        staff,
        accounts.parse_role(role) if role else None,
        expires_days,
        who.actor,
        ctx.clock(),
        note or None,
    )
    # Shown once, on this response only; the database keeps its hash.
    return _staff_page(request, who, new_token=token, new_token_staff=staff)


@router.post("/tokens/{token_id}/revoke")
def revoke_token(request: Request, token_id: int, who: Admin) -> Response:
    ctx = context_of(request)
    accounts.revoke_token(ctx.database, token_id, who.actor, ctx.clock())
    return RedirectResponse("/staff", status_code=303)
