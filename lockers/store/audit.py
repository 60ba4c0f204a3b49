"""The append-only audit log: one function writes, others read. Never updated or deleted
(database triggers refuse it)."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import TextIO

from sqlalchemy import select
from sqlalchemy.orm import Session

from lockers.store.audit_values import AuditAction, AuditOutcome
from lockers.store.models import AuditEntry

CSV_COLUMNS = ("id", "at", "actor", "action", "locker", "rental", "score", "outcome", "reason")


def append(
    session: Session,
    at: datetime,
    actor: str,
    action: AuditAction,
    outcome: AuditOutcome,
    locker_label: str | None = None,
    rental_id: int | None = None,
    score: float | None = None,
    reason: str | None = None,
) -> AuditEntry:
    """Add one entry (flushed, committed with the caller's transaction).

    Raises:
        ValueError: ``action`` or ``outcome`` is not a value of its enum (a writer that drifted
            from the contract fails at once, not in a staff member's filter months later).
    """
    entry = AuditEntry(
        at=at,
        actor=actor,
        action=AuditAction(action).value,
        outcome=AuditOutcome(outcome).value,
        locker_label=locker_label,
        rental_id=rental_id,
        score=None if score is None else round(float(score), 4),
        reason=reason,
    )
    session.add(entry)
    session.flush()
    return entry


@dataclass(frozen=True)
class Writer:
    """Entries by one actor at one moment in one session (one short line per entry)."""

    session: Session
    at: datetime
    actor: str

    def add(
        self,
        action: AuditAction,
        outcome: AuditOutcome,
        locker_label: str | None = None,
        rental_id: int | None = None,
        reason: str | None = None,
        score: float | None = None,
    ) -> AuditEntry:
        """See :func:`append`."""
        fields = (locker_label, rental_id, score, reason)
        return append(self.session, self.at, self.actor, action, outcome, *fields)


def entries(
    session: Session, since: datetime | None = None, action: str | None = None
) -> Iterator[AuditEntry]:
    """Entries in the order they were written."""
    query = select(AuditEntry).order_by(AuditEntry.id)
    if since is not None:
        query = query.where(AuditEntry.at >= since)
    if action is not None:
        query = query.where(AuditEntry.action == action)
    yield from session.scalars(query)


def recent(
    session: Session,
    *,
    action: str | None = None,
    locker_label: str | None = None,
    since: datetime | None = None,
    limit: int = 200,
) -> list[AuditEntry]:
    """The newest ``limit`` entries, newest first, optionally of one action and/or locker,
    and/or written at or after ``since``."""
    query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
    if since is not None:
        query = query.where(AuditEntry.at >= since)
    if action is not None:
        query = query.where(AuditEntry.action == action)
    if locker_label is not None:
        query = query.where(AuditEntry.locker_label == locker_label)
    return list(session.scalars(query))


def off_contract(session: Session) -> list[AuditEntry]:
    """Entries whose action or outcome is not a value of :class:`AuditAction` /
    :class:`AuditOutcome` (written before the enums, or by another tool), oldest first."""
    query = (
        select(AuditEntry)
        .where(
            AuditEntry.action.not_in([a.value for a in AuditAction])
            | AuditEntry.outcome.not_in([o.value for o in AuditOutcome])
        )
        .order_by(AuditEntry.id)
    )
    return list(session.scalars(query))


def write_csv(rows: Iterator[AuditEntry], out: TextIO) -> int:
    """Write entries as CSV (UTC ISO-8601 times); returns the number of rows."""
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    count = 0
    for e in rows:
        writer.writerow(
            [
                e.id,
                e.at.isoformat(),
                e.actor,
                e.action,
                e.locker_label or "",
                "" if e.rental_id is None else e.rental_id,
                "" if e.score is None else f"{e.score:.4f}",
                e.outcome,
                e.reason or "",
            ]
        )
        count += 1
    return count
