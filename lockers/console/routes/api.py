"""The REST API (``/api/v1``): the same data and permissions as the pages, bearer tokens.

Every error is JSON ``{"message": ..., "hint": ...}``. Actions are POSTs that return the
command; with ``?wait=s`` they wait up to that long for its result.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, Field

from lockers.console import actions, alerts, audit_view
from lockers.console.auth import REQUIRE_ATTENDANT, REQUIRE_MANAGER, Principal
from lockers.console.context import context_of
from lockers.console.routes.audit_pages import filters
from lockers.console.site_port import CommandView, KioskView
from lockers.errors import LockersError
from lockers.store import console_queries
from lockers.store.console_queries import LockerRow


class ErrorOut(BaseModel):
    message: str
    hint: str | None = None


_ERRORS = {code: {"model": ErrorOut} for code in (400, 401, 403, 404, 422, 500, 503)}
router = APIRouter(responses=_ERRORS)  # type: ignore[arg-type]
Attendant = Annotated[Principal, Depends(REQUIRE_ATTENDANT)]
Manager = Annotated[Principal, Depends(REQUIRE_MANAGER)]


class MeOut(BaseModel):
    name: str
    role: str
    via: str
    kiosks: list[str] | None


class KioskOut(BaseModel):
    kiosk_id: str
    display_name: str
    location: str | None
    online: bool | None
    last_beat_at: datetime | None
    problems: list[str]


class LockerOut(BaseModel):
    label: str
    kiosk_id: str
    size: str
    status: str
    door_state: str
    attention: str | None
    rented_since: datetime | None
    ends_at: datetime | None
    overdue: bool


class AuditEntryOut(BaseModel):
    id: int
    at: datetime
    actor: str
    action: str
    locker_label: str | None
    rental_id: int | None
    outcome: str
    reason: str | None


class AuditPageOut(BaseModel):
    entries: list[AuditEntryOut]
    next_before: int | None = Field(description="pass as ?before= for the next (older) page")


class CommandOut(BaseModel):
    id: int
    kiosk_id: str
    action: str
    locker_label: str
    staff: str
    reason: str
    state: str = Field(description="sent, claimed, or the result once finished")
    pending: bool
    created_at: datetime
    expires_at: datetime
    finished_at: datetime | None
    detail: str | None


class ActionIn(BaseModel):
    reason: str = Field(max_length=80, description="a preset reason (ui.staff_reasons), ko or en")
    note: str = Field("", max_length=200)


class ReleasedOut(BaseModel):
    label: str
    command: CommandOut | None
    error: str | None


def _kiosk(k: KioskView) -> KioskOut:
    return KioskOut(
        kiosk_id=k.kiosk_id,
        display_name=k.display_name,
        location=k.location,
        online=k.online,
        last_beat_at=k.last_beat_at,
        problems=list(k.problems),
    )


def _locker(r: LockerRow) -> LockerOut:
    return LockerOut(
        label=r.label,
        kiosk_id=r.kiosk_id,
        size=r.size,
        status=r.status,
        door_state=r.door_state,
        attention=r.attention,
        rented_since=r.rented_since,
        ends_at=r.ends_at,
        overdue=r.overdue,
    )


def _command(c: CommandView) -> CommandOut:
    return CommandOut(
        id=c.id,
        kiosk_id=c.kiosk_id,
        action=c.action,
        locker_label=c.locker_label,
        staff=c.staff,
        reason=c.reason,
        state=c.state,
        pending=c.pending,
        created_at=c.created_at,
        expires_at=c.expires_at,
        finished_at=c.finished_at,
        detail=c.detail,
    )


@router.get("/me", response_model=MeOut)
def me(who: Attendant) -> MeOut:
    kiosks = None if who.member.kiosks is None else list(who.member.kiosks)
    return MeOut(name=who.name, role=who.role.value, via=who.via, kiosks=kiosks)


@router.get("/kiosks", response_model=list[KioskOut])
def kiosks(request: Request, who: Attendant) -> list[KioskOut]:
    ctx = context_of(request)
    with ctx.database.transaction() as session:
        return [_kiosk(k) for k in ctx.site.kiosks(session, ctx.clock())]


@router.get("/lockers", response_model=list[LockerOut])
def lockers(
    request: Request,
    who: Attendant,
    kiosk: Annotated[str | None, Query(max_length=64)] = None,
    q: Annotated[str | None, Query(max_length=16, description="part of a label")] = None,
) -> list[LockerOut]:
    ctx = context_of(request)
    with ctx.database.transaction() as session:
        rows = console_queries.locker_grid(session, ctx.clock(), kiosk_id=kiosk, search=q)
    return [_locker(r) for r in rows]


@router.get("/audit", response_model=AuditPageOut)
def audit(
    request: Request, who: Attendant, chosen: Annotated[audit_view.AuditFilters, Depends(filters)]
) -> AuditPageOut:
    rows, older = audit_view.page_of(context_of(request), chosen)
    entries = [
        AuditEntryOut(
            id=e.id,
            at=e.at,
            actor=e.actor,
            action=e.action,
            locker_label=e.locker_label,
            rental_id=e.rental_id,
            outcome=e.outcome,
            reason=e.reason,
        )
        for e in rows
    ]
    return AuditPageOut(entries=entries, next_before=older)


@router.get("/commands/{command_id}", response_model=CommandOut)
def command(request: Request, command_id: int, who: Attendant) -> CommandOut:
    found = actions.command(context_of(request), command_id)
    if found is None:
        raise actions.ActionRefused(f"there is no command {command_id}", hint="check the id")
    return _command(found)


@router.post("/lockers/{label}/actions/{action}", response_model=CommandOut)
def act(
    request: Request,
    response: Response,
    label: str,
    action: str,
    body: ActionIn,
    who: Attendant,
    wait: Annotated[float, Query(ge=0, le=300)] = 0,
) -> CommandOut:
    """Send ``action`` (open, reset, out_of_service, back_in_service) to the locker's kiosk.
    202 while the command is pending, 200 once it has a result."""
    ctx = context_of(request)
    sent = actions.send(ctx, who, label, action, body.reason, body.note)
    current = actions.wait_for_result(ctx, sent.id, wait) if wait > 0 else sent
    current = current or sent
    response.status_code = 202 if current.pending else 200
    return _command(current)


@router.post("/kiosks/{kiosk_id}/release-overdue", response_model=list[ReleasedOut])
def release_overdue(
    request: Request, kiosk_id: str, body: ActionIn, who: Manager
) -> list[ReleasedOut]:
    """One reset command per overdue locker of the kiosk's bank."""
    ctx = context_of(request)
    with ctx.database.transaction() as session:
        rows = console_queries.overdue_lockers(session, ctx.clock(), kiosk_id)
    out: list[ReleasedOut] = []
    for row in rows:
        try:
            sent = actions.send(ctx, who, row.label, "reset", body.reason, body.note)
            out.append(ReleasedOut(label=row.label, command=_command(sent), error=None))
        except LockersError as exc:
            out.append(ReleasedOut(label=row.label, command=None, error=exc.message))
    return out


class AlertOut(BaseModel):
    key: str
    kind: str
    kiosk_id: str
    locker_label: str | None
    since: datetime
    message: str
    acknowledged_by: str | None
    acknowledged_at: datetime | None


class AckIn(BaseModel):
    key: str = Field(max_length=200)
    note: str = Field("", max_length=200)


@router.get("/alerts", response_model=list[AlertOut])
def alert_list(request: Request, who: Attendant) -> list[AlertOut]:
    """Current alerts, newest first."""
    return [AlertOut(**a.__dict__) for a in alerts.open_alerts(context_of(request))]


@router.post("/alerts/ack", status_code=204)
def alert_ack(request: Request, body: AckIn, who: Manager) -> Response:
    """Acknowledge an alert by its key, in the caller's name (audited)."""
    alerts.acknowledge(context_of(request), body.key, who.name, body.note)
    return Response(status_code=204)
