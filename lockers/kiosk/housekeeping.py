"""Expiry of rentals whose retention ran out, at start-up and every few minutes while the kiosk
runs (``privacy.housekeeping_interval_s``): the README promises that a face's templates are
deleted ``retention_hours`` after its rental went overdue, however long the kiosk has been up."""

from __future__ import annotations

from datetime import datetime

from lockers.kiosk.dto import HousekeepingReport
from lockers.store import audit, lockers_repo, rentals
from lockers.store.audit_values import AuditAction, AuditOutcome
from lockers.store.db import Database, Session
from lockers.store.models import RentalState


def expire_rentals(database: Database, now: datetime, actor: str) -> list[int]:
    """Expire active rentals past ``expires_at``: delete their templates, flag their lockers
    (the belongings are still inside). Returns the expired rental ids."""
    with database.transaction() as session:
        return list(_expire(session, now, actor).expired_rentals)


def _expire(session: Session, now: datetime, actor: str) -> HousekeepingReport:
    expired: list[int] = []
    total = 0
    trail = audit.Writer(session, now, actor)
    for rental in rentals.rentals_to_expire(session, now):
        deleted = rentals.close_rental(
            session,
            rental,
            RentalState.EXPIRED,
            now=now,
            reason="retention ran out: templates deleted",
            free_locker=False,
        )
        label = rental.locker.label
        note = f"rental {rental.id} expired: belongings may be inside, reset after emptying"
        lockers_repo.flag(session, rental.locker, note)
        why = f"{deleted} templates deleted after retention"
        trail.add(AuditAction.EXPIRE, AuditOutcome.TEMPLATES_DELETED, label, rental.id, why)
        expired.append(rental.id)
        total += deleted
    return HousekeepingReport(now, tuple(expired), total)


def housekeeping(database: Database, now: datetime, actor: str) -> HousekeepingReport:
    """One pass while the kiosk runs: :func:`expire_rentals`, plus one ``housekeeping`` audit
    entry summing it up when anything expired (an idle pass writes nothing)."""
    with database.transaction() as session:
        report = _expire(session, now, actor)
        if not report.idle:
            why = (
                f"{len(report.expired_rentals)} rentals expired, "
                f"{report.templates_deleted} templates deleted"
            )
            trail = audit.Writer(session, now, actor)
            trail.add(AuditAction.HOUSEKEEPING, AuditOutcome.TEMPLATES_DELETED, reason=why)
    return report
