"""The console's composition: ``create_app`` builds the FastAPI app from settings and a database,
with the site port (kiosks, commands) passed in; nothing happens at import time.

Errors: the API (and /metrics) always answers JSON ``{"message": ..., "hint": ...}``; pages
redirect to the login when unauthenticated and render an error page otherwise.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.exceptions import HTTPException as StarletteHTTPException

from lockers.config import Settings
from lockers.console.auth import Forbidden, NotAuthenticated
from lockers.console.context import PACKAGE_DIR, ConsoleContext, context_of, is_api
from lockers.console.routes import (
    alerts_pages,
    api,
    audit_pages,
    auth_pages,
    ops,
    overview_pages,
    staff_pages,
)
from lockers.console.site_port import CommandSender, CommandsUnavailable, SiteView
from lockers.console.site_store import SiteStore
from lockers.console.views import register_filters
from lockers.errors import LockersError, StoreError
from lockers.store.db import Database
from lockers.store.models import utcnow

API_PREFIX = "/api/v1"
# (router, prefix): every route the console serves besides /static and the OpenAPI document.
ROUTERS = (
    (auth_pages.router, ""),
    (overview_pages.router, ""),
    (audit_pages.router, ""),
    (alerts_pages.router, ""),
    (staff_pages.router, ""),
    (ops.router, ""),
    (api.router, API_PREFIX),
)


def route_table() -> list[tuple[str, str]]:
    """(method, path) of every route (the permission test walks them all)."""
    return sorted(
        (method, prefix + route.path)
        for router, prefix in ROUTERS
        for route in router.routes
        for method in getattr(route, "methods", ()) or ()
        if method != "HEAD"
    )


def create_app(
    settings: Settings,
    database: Database,
    *,
    site: SiteView | None = None,
    commands: CommandSender | None = None,
    clock: Callable[[], datetime] = utcnow,
) -> FastAPI:
    """The console app over ``database`` (already migrated). ``site`` and ``commands`` default
    to the site store (kiosk registry, site commands with ``site.command_ttl_s``)."""
    app = FastAPI(
        title="Lockers site console API",
        version="1",
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url=None,
        redoc_url=None,
    )
    store = SiteStore(settings.site.command_ttl_s)
    templates = Jinja2Templates(directory=str(PACKAGE_DIR / "templates"))
    register_filters(templates)
    app.state.console = ConsoleContext(
        settings=settings,
        database=database,
        clock=clock,
        site=site or store,
        commands=commands or store,
        templates=templates,
    )
    app.mount("/static", StaticFiles(directory=str(PACKAGE_DIR / "static")), name="static")
    for router, prefix in ROUTERS:
        app.include_router(router, prefix=prefix)
    _install_error_handlers(app)
    return app


def _json_error(status: int, message: str, hint: str | None = None) -> JSONResponse:
    return JSONResponse({"message": message, "hint": hint}, status_code=status)


def _page_error(request: Request, status: int, message: str, hint: str | None) -> Response:
    ctx = context_of(request)
    return ctx.templates.TemplateResponse(
        request,
        "error.html",
        {
            "status": status,
            "message": message,
            "hint": hint,
            "who": getattr(request.state, "principal", None),
        },
        status_code=status,
    )


def _error(request: Request, status: int, message: str, hint: str | None = None) -> Response:
    if is_api(request):
        return _json_error(status, message, hint)
    return _page_error(request, status, message, hint)


def _status_of(exc: LockersError) -> int:
    """503 when the console cannot do it now (read-only, database unreachable); else the
    request was wrong: 400."""
    if isinstance(exc, CommandsUnavailable):
        return 503
    if isinstance(exc, StoreError) and ("reach" in exc.message or "busy" in exc.message):
        return 503
    return 400


def _install_error_handlers(app: FastAPI) -> None:
    async def not_authenticated(request: Request, exc: Exception) -> Response:
        message = exc.message if isinstance(exc, NotAuthenticated) else "please log in"
        if is_api(request):
            response = _json_error(401, message, "send Authorization: Bearer <token>")
            response.headers["WWW-Authenticate"] = "Bearer"
            return response
        target = "/login?next=" + quote(request.url.path) + "&why=" + quote(message)
        return RedirectResponse(target, status_code=303)

    async def forbidden(request: Request, exc: Exception) -> Response:
        return _error(request, 403, exc.message if isinstance(exc, Forbidden) else "forbidden")

    async def http_error(request: Request, exc: Exception) -> Response:
        if not isinstance(exc, StarletteHTTPException):
            return _error(request, 500, "internal error")
        return _error(request, exc.status_code, str(exc.detail))

    async def validation(request: Request, exc: Exception) -> Response:
        errors = exc.errors() if isinstance(exc, RequestValidationError) else []
        parts = [f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg')}" for e in errors]
        return _error(request, 422, "invalid request: " + "; ".join(parts))

    async def lockers_error(request: Request, exc: Exception) -> Response:
        if not isinstance(exc, LockersError):
            return _error(request, 500, "internal error")
        return _error(request, _status_of(exc), exc.message, exc.hint)

    async def unexpected(request: Request, exc: Exception) -> Response:
        return _error(request, 500, "internal error: the console logged it", "see the log")

    app.add_exception_handler(NotAuthenticated, not_authenticated)
    app.add_exception_handler(Forbidden, forbidden)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation)
    app.add_exception_handler(LockersError, lockers_error)
    app.add_exception_handler(Exception, unexpected)
