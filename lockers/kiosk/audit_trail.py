"""Audit entries a kiosk service writes outside an unlock (which :mod:`lockers.kiosk.unlocking`
audits itself): one short transaction each, actions and outcomes from the enums only."""

from __future__ import annotations

from datetime import datetime

from lockers.store import audit
from lockers.store.audit_values import AuditAction, AuditOutcome
from lockers.store.db import Database
from lockers.vision.pad import PadVerdict


def record(
    database: Database,
    *,
    at: datetime,
    actor: str,
    action: AuditAction,
    outcome: AuditOutcome,
    reason: str | None = None,
    score: float | None = None,
) -> None:
    """One audit entry in a transaction of its own."""
    with database.transaction() as session:
        audit.append(
            session, at=at, actor=actor, action=action, outcome=outcome, score=score, reason=reason
        )


def record_attack(
    database: Database, actor: str, action: AuditAction, pad: PadVerdict, now: datetime
) -> None:
    """A refused capture: attack type and fused score, never an image."""
    record(
        database,
        at=now,
        actor=actor,
        action=action,
        outcome=AuditOutcome.PRESENTATION_ATTACK,
        score=pad.score,
        reason=pad.describe(),
    )
