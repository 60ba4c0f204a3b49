"""Template helpers of the console pages: time formats, and the page context every page gets."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from lockers.console.auth import Principal
from lockers.console.context import CSRF_FIELD, CSRF_HEADER, context_of
from lockers.store.console_models import StaffRole


def _when(value: datetime | None) -> str:
    return "" if value is None else f"{value:%Y-%m-%d %H:%M:%S}Z"


def _ago(value: datetime | None, now: datetime) -> str:
    if value is None:
        return "never"
    seconds = max(0, int((now - value).total_seconds()))
    if seconds < 120:
        return f"{seconds} s ago"
    if seconds < 7200:
        return f"{seconds // 60} min ago"
    return f"{seconds // 3600} h ago"


def _duration(start: datetime | None, now: datetime) -> str:
    if start is None:
        return ""
    minutes = max(0, int((now - start).total_seconds() // 60))
    return f"{minutes // 60} h {minutes % 60:02d} min" if minutes >= 60 else f"{minutes} min"


def register_filters(templates: Jinja2Templates) -> None:
    templates.env.filters["when"] = _when
    templates.env.globals["ago"] = _ago
    templates.env.globals["duration"] = _duration
    templates.env.globals["CSRF_FIELD"] = CSRF_FIELD
    templates.env.globals["CSRF_HEADER"] = CSRF_HEADER
    templates.env.globals["Role"] = StaffRole


def page(
    request: Request, name: str, who: Principal | None, status: int = 200, **values: Any
) -> HTMLResponse:
    """Render ``name`` with the caller, their CSRF token and the clock's now."""
    ctx = context_of(request)
    return ctx.templates.TemplateResponse(
        request,
        name,
        {"who": who, "csrf": None if who is None else who.csrf_token, "now": ctx.clock(), **values},
        status_code=status,
    )
