"""Overview (kiosks and their locker grids), a locker's actions, command results, and
"release all overdue" (confirmation, one command per locker, a CSV of what happened)."""

from __future__ import annotations

import csv
import io
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from lockers.console import actions
from lockers.console.auth import REQUIRE_ATTENDANT, REQUIRE_MANAGER, Principal
from lockers.console.context import ConsoleContext, context_of
from lockers.console.site_port import ACTIONS, CommandView, KioskView
from lockers.console.views import page
from lockers.errors import LockersError
from lockers.store import console_queries
from lockers.store.console_queries import LockerRow

router = APIRouter(include_in_schema=False)
Attendant = Annotated[Principal, Depends(REQUIRE_ATTENDANT)]
Manager = Annotated[Principal, Depends(REQUIRE_MANAGER)]


def _banks(ctx: ConsoleContext, search: str) -> list[tuple[KioskView, list[LockerRow]]]:
    now = ctx.clock()
    with ctx.database.transaction() as session:
        kiosks = ctx.site.kiosks(session, now)
        rows = console_queries.locker_grid(session, now, search=search or None)
    by_kiosk: dict[str, list[LockerRow]] = {}
    for row in rows:
        by_kiosk.setdefault(row.kiosk_id, []).append(row)
    known = {k.kiosk_id for k in kiosks}
    kiosks += [KioskView(kiosk_id, kiosk_id) for kiosk_id in by_kiosk if kiosk_id not in known]
    return [(kiosk, by_kiosk.get(kiosk.kiosk_id, [])) for kiosk in kiosks]


@router.get("/", response_class=HTMLResponse)
def overview(request: Request, who: Attendant, q: str = Query("", max_length=16)) -> Response:
    banks = _banks(context_of(request), q)
    return page(request, "overview.html", who, banks=banks, q=q)


@router.get("/grid", response_class=HTMLResponse)
def grid(request: Request, who: Attendant, q: str = Query("", max_length=16)) -> Response:
    """The overview's body alone: htmx swaps it in every few seconds."""
    banks = _banks(context_of(request), q)
    return page(request, "grid.html", who, banks=banks, q=q)


@router.get("/lockers/{label}", response_class=HTMLResponse)
def locker(request: Request, label: str, who: Attendant) -> Response:
    ctx = context_of(request)
    row = actions.find_locker(ctx, label)
    offered = [
        (action, actions.ACTION_TITLE[action], actions.presets(ctx.settings, action))
        for action in ACTIONS
        if who.role.includes(actions.ACTION_ROLE[action]) and who.may_act_on(row.kiosk_id)
    ]
    return page(request, "locker.html", who, locker=row, offered=offered)


@router.post("/lockers/{label}/actions")
def act(
    request: Request,
    label: str,
    who: Attendant,
    action: Annotated[str, Form(max_length=32)],
    reason: Annotated[str, Form(max_length=80)],
    note: Annotated[str, Form(max_length=400)] = "",
) -> Response:
    command = actions.send(context_of(request), who, label, action, reason, note)
    return RedirectResponse(f"/commands/{command.id}", status_code=303)


@router.get("/commands/{command_id}", response_class=HTMLResponse)
def command_page(
    request: Request, command_id: int, who: Attendant, fragment: bool = False
) -> Response:
    found = actions.command(context_of(request), command_id)
    if found is None:
        raise actions.ActionRefused(f"there is no command {command_id}", hint="see the audit log")
    name = "command_status.html" if fragment else "command.html"
    return page(request, name, who, command=found)


@router.get("/kiosks/{kiosk_id}/overdue", response_class=HTMLResponse)
def overdue_confirm(request: Request, kiosk_id: str, who: Manager) -> Response:
    ctx = context_of(request)
    with ctx.database.transaction() as session:
        rows = console_queries.overdue_lockers(session, ctx.clock(), kiosk_id)
    reasons = actions.presets(ctx.settings, "reset")
    return page(request, "overdue.html", who, kiosk_id=kiosk_id, rows=rows, reasons=reasons)


@router.post("/kiosks/{kiosk_id}/release-overdue", response_class=HTMLResponse)
def release_overdue(
    request: Request,
    kiosk_id: str,
    who: Manager,
    reason: Annotated[str, Form(max_length=80)],
    note: Annotated[str, Form(max_length=400)] = "",
) -> Response:
    ctx = context_of(request)
    with ctx.database.transaction() as session:
        rows = console_queries.overdue_lockers(session, ctx.clock(), kiosk_id)
    released: list[actions.Released] = []
    for row in rows:
        try:
            sent = actions.send(ctx, who, row.label, "reset", reason, note)
            released.append(actions.Released(row.label, sent, None))
        except LockersError as exc:
            released.append(actions.Released(row.label, None, exc.message))
    ids = ",".join(str(r.command.id) for r in released if r.command is not None)
    return page(request, "released.html", who, kiosk_id=kiosk_id, released=released, ids=ids)


CSV_COLUMNS = (
    "command",
    "kiosk",
    "locker",
    "action",
    "staff",
    "reason",
    "state",
    "detail",
    "sent_at",
    "finished_at",
)


@router.get("/commands.csv")
def commands_csv(
    request: Request, who: Manager, ids: str = Query("", max_length=20000)
) -> Response:
    """What happened to a batch of commands (release all overdue), as it stands now."""
    ctx = context_of(request)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for part in filter(None, ids.split(",")):
        if not part.strip().isdigit():
            raise actions.ActionRefused(f"command id {part!r} is not a number")
        found: CommandView | None = actions.command(ctx, int(part))
        if found is not None:
            writer.writerow(
                [
                    found.id,
                    found.kiosk_id,
                    found.locker_label,
                    found.action,
                    found.staff,
                    found.reason,
                    found.state,
                    found.detail or "",
                    found.created_at.isoformat(),
                    "" if found.finished_at is None else found.finished_at.isoformat(),
                ]
            )
    return Response(
        out.getvalue(),
        media_type="text/csv",
        headers={"Content-Disposition": 'attachment; filename="commands.csv"'},
    )
