"""The start-up consistency check: find (and, where safe, repair) states a crash could leave.

Invariants: a locker holding an active rental is never ``available``; templates exist only for
active rentals; an ``occupied`` locker without an active rental is flagged for staff (belongings
may be inside); an unlock intent without an outcome is flagged for staff (the door may be open).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from lockers.errors import StoreError
from lockers.store import audit, lockers_repo
from lockers.store.models import (
    FaceTemplate,
    Locker,
    LockerStatus,
    Rental,
    RentalState,
)
from lockers.store.rentals import delete_templates
from lockers.store.unlocks import pending_unlocks


@dataclass(frozen=True)
class Finding:
    """One inconsistency. ``repaired`` says whether the check fixed it (or only flagged it)."""

    kind: str
    detail: str
    locker_label: str | None = None
    rental_id: int | None = None
    repaired: bool = False


def check(
    session: Session, *, now: datetime, repair: bool, kiosk_id: str | None = None
) -> list[Finding]:
    """Run every check; with ``repair`` apply the safe repairs in this session (caller commits).

    ``kiosk_id`` limits the pending-unlock check to this kiosk's own intents (on a shared
    database another kiosk's intent may be in flight right now).
    """
    findings = _locker_findings(session, repair)
    findings += _template_findings(session, repair)
    findings += _interrupted_unlocks(session, now, repair, kiosk_id)
    session.flush()
    return findings


def _locker_findings(session: Session, repair: bool) -> list[Finding]:
    """Lockers whose status disagrees with their active rental."""
    findings: list[Finding] = []
    active_by_locker = {
        r.locker_id: r
        for r in session.scalars(select(Rental).where(Rental.state == RentalState.ACTIVE))
    }
    for locker in session.scalars(select(Locker).order_by(Locker.id)):
        rental = active_by_locker.get(locker.id)
        if rental is not None and locker.status == LockerStatus.AVAILABLE:
            if repair:
                locker.status = LockerStatus.OCCUPIED
            detail = (
                f"locker {locker.label} was marked available but holds active rental "
                f"{rental.id}; marked occupied"
            )
            findings.append(
                Finding("available_with_active_rental", detail, locker.label, rental.id, repair)
            )
        if rental is not None and locker.retired_at is not None:
            detail = (
                f"locker {locker.label} is no longer configured but holds active rental {rental.id}"
            )
            findings.append(Finding("retired_with_active_rental", detail, locker.label, rental.id))
        if rental is None and locker.status == LockerStatus.OCCUPIED and locker.attention is None:
            if repair:
                lockers_repo.flag(
                    session, locker, "occupied without an active rental: check and reset"
                )
            detail = (
                f"locker {locker.label} is occupied but has no active rental; flagged for "
                "staff (belongings may be inside)"
            )
            findings.append(Finding("occupied_without_rental", detail, locker.label, None, repair))
    return findings


def _template_findings(session: Session, repair: bool) -> list[Finding]:
    """Templates of closed rentals (deleted on repair), active rentals without templates."""
    findings: list[Finding] = []
    orphan_rentals = list(
        session.scalars(
            select(FaceTemplate.rental_id)
            .join(Rental, Rental.id == FaceTemplate.rental_id)
            .where(Rental.state != RentalState.ACTIVE)
            .distinct()
        )
    )
    for rental_id in orphan_rentals:
        if repair:
            delete_templates(session, rental_id)
        detail = f"rental {rental_id} is closed but still had face templates; deleted"
        findings.append(Finding("templates_of_closed_rental", detail, None, rental_id, repair))
    no_templates = session.scalars(
        select(Rental).where(
            Rental.state == RentalState.ACTIVE,
            ~exists().where(FaceTemplate.rental_id == Rental.id),
        )
    )
    for rental in no_templates:
        detail = (
            f"active rental {rental.id} in locker {rental.locker.label} has no face "
            "templates: nobody can retrieve it by face; staff must reset it"
        )
        findings.append(
            Finding("active_rental_without_templates", detail, rental.locker.label, rental.id)
        )
    return findings


def _interrupted_unlocks(
    session: Session, now: datetime, repair: bool, kiosk_id: str | None
) -> list[Finding]:
    """Unlock intents without an outcome: the door may be open, so staff look."""
    findings: list[Finding] = []
    for request in pending_unlocks(session, kiosk_id):
        target = session.get(Locker, request.locker_id)
        if target is None:  # a foreign key: only a damaged database gets here
            raise StoreError(
                f"unlock request {request.id} names locker id {request.locker_id}, which does "
                "not exist",
                hint="restore the database from a backup",
            )
        if repair:
            request.outcome = "interrupted"
            request.detail = "the process stopped before the board's answer was recorded"
            request.finished_at = now
            lockers_repo.flag(
                session, target, f"{request.purpose.value} unlock interrupted: door may be open"
            )
        detail = (
            f"a {request.purpose.value} unlock of locker {target.label} (request "
            f"{request.id}) has no recorded outcome; flagged for staff"
        )
        findings.append(
            Finding("interrupted_unlock", detail, target.label, request.rental_id, repair)
        )
    return findings


def audit_findings(session: Session) -> list[Finding]:
    """Audit entries whose action or outcome is outside the contract of
    :mod:`lockers.store.audit_values` (``lockers db check`` reports them; the log is
    append-only, so they are never repaired)."""
    return [
        Finding(
            "audit_value_outside_contract",
            f"audit entry {entry.id} ({entry.at:%Y-%m-%d %H:%M}Z) has action {entry.action!r}, "
            f"outcome {entry.outcome!r}: not in AuditAction/AuditOutcome",
            entry.locker_label,
            entry.rental_id,
        )
        for entry in audit.off_contract(session)
    ]


def invariant_violations(session: Session) -> list[str]:
    """The hard invariants only, as text; [] when sound.

    An interrupted unlock is not a violation (it is a legitimate crash state that :func:`check`
    flags for staff).
    """
    problems: list[str] = []
    rows = session.execute(
        select(Locker.label, Rental.id)
        .join(Rental, Rental.locker_id == Locker.id)
        .where(Rental.state == RentalState.ACTIVE, Locker.status == LockerStatus.AVAILABLE)
    )
    problems += [
        f"locker {label} is available but holds active rental {rid}" for label, rid in rows
    ]
    orphans = session.scalars(
        select(FaceTemplate.id)
        .join(Rental, Rental.id == FaceTemplate.rental_id)
        .where(Rental.state != RentalState.ACTIVE)
    )
    problems += [f"template {tid} belongs to a closed rental" for tid in orphans]
    return problems
