"""What every request handler of the console shares: settings, database, clock, the site port."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from fastapi import Request
from fastapi.templating import Jinja2Templates

from lockers.config import Settings
from lockers.console.site_port import CommandSender, SiteView
from lockers.errors import LockersError
from lockers.store.db import Database

PACKAGE_DIR = Path(__file__).resolve().parent
SESSION_COOKIE = "lockers_session"
LOGIN_CSRF_COOKIE = "lockers_login_csrf"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"


@dataclass
class ConsoleContext:
    """Built once by :func:`lockers.console.app.create_app`; never a module-level singleton."""

    settings: Settings
    database: Database
    clock: Callable[[], datetime]
    site: SiteView
    commands: CommandSender
    templates: Jinja2Templates

    @property
    def language(self) -> str:
        return self.settings.ui.language


def context_of(request: Request) -> ConsoleContext:
    ctx = getattr(request.app.state, "console", None)
    if not isinstance(ctx, ConsoleContext):
        raise LockersError("the console app was built without its context", hint="create_app()")
    return ctx


def client_address(request: Request) -> str:
    """The client's address (the proxy's X-Forwarded-For when uvicorn trusts that proxy)."""
    return request.client.host if request.client is not None else "unknown"


def is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/") or request.url.path == "/metrics"
