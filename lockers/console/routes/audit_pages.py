"""The audit log: filtered, paged newest first, exported as CSV (manager)."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response, StreamingResponse

from lockers.console import audit_view
from lockers.console.audit_view import AuditFilters
from lockers.console.auth import REQUIRE_ATTENDANT, REQUIRE_MANAGER, Principal
from lockers.console.context import context_of
from lockers.console.views import page

router = APIRouter(include_in_schema=False)


def filters(
    kiosk: Annotated[str, Query(max_length=64)] = "",
    locker: Annotated[str, Query(max_length=16)] = "",
    staff: Annotated[str, Query(max_length=64)] = "",
    action: Annotated[str, Query(max_length=32)] = "",
    since: Annotated[str, Query(max_length=40)] = "",
    until: Annotated[str, Query(max_length=40)] = "",
    before: Annotated[int | None, Query(ge=1)] = None,
) -> AuditFilters:
    return AuditFilters(kiosk, locker, staff, action, since, until, before)


Filters = Annotated[AuditFilters, Depends(filters)]


@router.get("/audit", response_class=HTMLResponse)
def audit_page(
    request: Request, who: Annotated[Principal, Depends(REQUIRE_ATTENDANT)], chosen: Filters
) -> Response:
    rows, older = audit_view.page_of(context_of(request), chosen)
    params = chosen.as_params()
    older_link = None if older is None else "/audit?" + urlencode({**params, "before": older})
    return page(
        request,
        "audit.html",
        who,
        rows=rows,
        filters=chosen,
        older_link=older_link,
        csv_link="/audit.csv?" + urlencode(params),
        actions=audit_view.ACTIONS,
    )


@router.get("/audit.csv")
def audit_csv(
    request: Request, who: Annotated[Principal, Depends(REQUIRE_MANAGER)], chosen: Filters
) -> Response:
    chunks = audit_view.export_csv(context_of(request), chosen, who.actor)
    return StreamingResponse(
        chunks,
        media_type="text/csv",
        headers={"Content-Disposition": 'attachment; filename="audit.csv"'},
    )
