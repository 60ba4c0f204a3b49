"""Audit entries a kiosk service writes outside an unlock (which :mod:`lockers.kiosk.unlocking`
audits itself): one short transaction each, actions and outcomes from the enums only."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

from lockers.store import audit
from lockers.store.audit_values import AuditAction, AuditOutcome
from lockers.store.db import Database
from lockers.vision.pad import PadVerdict


@contextmanager
def trail(database: Database, at: datetime, actor: str) -> Iterator[audit.Writer]:
    """Entries of ``actor`` at ``at``, committed together in a transaction of their own."""
    with database.transaction() as session:
        yield audit.Writer(session, at, actor)


def record_attack(
    database: Database, actor: str, action: AuditAction, pad: PadVerdict, now: datetime
) -> None:
    """A refused capture: attack type and fused score, never an image."""
    with trail(database, now, actor) as entries:
        why = pad.describe()
        entries.add(action, AuditOutcome.PRESENTATION_ATTACK, reason=why, score=pad.score)
