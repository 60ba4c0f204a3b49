"""Alerts, newest first (the page refreshes itself); a manager acknowledges them by name."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from lockers.console import alerts
from lockers.console.auth import REQUIRE_ATTENDANT, REQUIRE_MANAGER, Principal
from lockers.console.context import context_of
from lockers.console.views import page

router = APIRouter(include_in_schema=False)


@router.get("/alerts", response_class=HTMLResponse)
def alerts_page(
    request: Request, who: Annotated[Principal, Depends(REQUIRE_ATTENDANT)], fragment: bool = False
) -> Response:
    current = alerts.open_alerts(context_of(request))
    return page(request, "alerts_list.html" if fragment else "alerts.html", who, alerts=current)


@router.post("/alerts/ack")
def acknowledge(
    request: Request,
    who: Annotated[Principal, Depends(REQUIRE_MANAGER)],
    key: Annotated[str, Form(max_length=200)],
    note: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    alerts.acknowledge(context_of(request), key, who.name, note)
    return RedirectResponse("/alerts", status_code=303)
