"""Login and logout. The login form is protected by a double-submit CSRF cookie (there is no
session yet); the session cookie is HttpOnly, SameSite=Strict and Secure over HTTPS."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from lockers.console import accounts
from lockers.console.auth import REQUIRE_ATTENDANT, Principal
from lockers.console.context import LOGIN_CSRF_COOKIE, SESSION_COOKIE, client_address, context_of
from lockers.console.passwords import new_secret
from lockers.console.views import page

router = APIRouter(include_in_schema=False)


def _safe_next(target: str) -> str:
    # Only paths of this site: never "//evil.example" or "https://...".
    if target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


def _login_form(
    request: Request, error: str = "", next_path: str = "/", status: int = 200
) -> Response:
    token = new_secret()
    response = page(
        request,
        "login.html",
        None,
        status=status,
        error=error,
        next=_safe_next(next_path),
        login_csrf=token,
        why=request.query_params.get("why", ""),
    )
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=_secure(request),
        path="/login",
    )
    return response


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: str = "/") -> Response:
    return _login_form(request, next_path=next)


@router.post("/login")
def login(
    request: Request,
    name: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=1024)],
    csrf_token: Annotated[str, Form(max_length=128)] = "",
    next: Annotated[str, Form(max_length=512)] = "/",
) -> Response:
    expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not expected or not hmac.compare_digest(expected, csrf_token):
        return _login_form(request, "the login form expired: try again", next, status=403)
    ctx = context_of(request)
    try:
        new = accounts.login(
            ctx.database,
            ctx.settings.console,
            name,
            password,
            client_address(request),
            ctx.clock(),
        )
    except accounts.LoginRefused as exc:
        return _login_form(request, exc.message, next, status=401)
    response = RedirectResponse(_safe_next(next), status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        new.session_id,
        httponly=True,
        samesite="strict",
        secure=_secure(request),
        path="/",
    )
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
    return response


@router.post("/logout")
def logout(request: Request, who: Annotated[Principal, Depends(REQUIRE_ATTENDANT)]) -> Response:
    ctx = context_of(request)
    if who.session_hash is not None:
        accounts.logout(ctx.database, who.session_hash, who.name, ctx.clock())
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response
