"""Read-only views of the store for auditors (the soak harness): plain data, never ORM objects,
so nothing outside ``store`` needs SQLAlchemy to check the database's invariants."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
import numpy.typing as npt
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from lockers.store.crypto import TemplateCipher
from lockers.store.db import Database
from lockers.store.models import (
    AuditEntry,
    FaceTemplate,
    Locker,
    Rental,
    RentalState,
    UnlockRequest,
)


@dataclass(frozen=True)
class LockerState:
    label: str
    status: str
    attention: str | None
    active_rental_id: int | None


@dataclass(frozen=True)
class AuditRecord:
    id: int
    at: datetime
    actor: str
    action: str
    outcome: str
    locker_label: str | None
    rental_id: int | None
    score: float | None
    reason: str | None


def locker_states(session: Session) -> list[LockerState]:
    """Every locker in service, in configuration order, with its active rental (if any)."""
    active = dict(
        session.execute(
            select(Rental.locker_id, func.min(Rental.id))
            .where(Rental.state == RentalState.ACTIVE)
            .group_by(Rental.locker_id)
        ).all()
    )
    return [
        LockerState(lk.label, lk.status.value, lk.attention, active.get(lk.id))
        for lk in session.scalars(
            select(Locker).where(Locker.retired_at.is_(None)).order_by(Locker.id)
        )
    ]


def doubly_rented_lockers(session: Session) -> list[tuple[str, tuple[int, ...]]]:
    """Lockers holding more than one active rental: ``(label, rental ids)``."""
    rows = session.execute(
        select(Locker.label, Rental.id)
        .join(Rental, Rental.locker_id == Locker.id)
        .where(Rental.state == RentalState.ACTIVE)
        .order_by(Locker.label, Rental.id)
    )
    by_label: dict[str, list[int]] = {}
    for label, rental_id in rows:
        by_label.setdefault(label, []).append(rental_id)
    return [(label, tuple(ids)) for label, ids in by_label.items() if len(ids) > 1]


def templates_of_closed_rentals(session: Session) -> list[tuple[int, int, str]]:
    """``(template id, rental id, rental state)`` for every template of a non-active rental."""
    rows = session.execute(
        select(FaceTemplate.id, Rental.id, Rental.state)
        .join(Rental, Rental.id == FaceTemplate.rental_id)
        .where(Rental.state != RentalState.ACTIVE)
    )
    return [(template_id, rental_id, state.value) for template_id, rental_id, state in rows]


def unresolved_unlocks(session: Session) -> list[tuple[int, str, str]]:
    """``(request id, purpose, kiosk id)`` of unlock intents without a recorded outcome."""
    rows = session.execute(
        select(UnlockRequest.id, UnlockRequest.purpose, UnlockRequest.kiosk_id).where(
            UnlockRequest.outcome.is_(None)
        )
    )
    return [(request_id, purpose.value, kiosk_id) for request_id, purpose, kiosk_id in rows]


def rental_embeddings(
    session: Session, cipher: TemplateCipher, rental_id: int
) -> npt.NDArray[np.float32]:
    """The decrypted ``(k, d)`` embeddings of one rental (``(0, 512)`` when it has none)."""
    rows = session.execute(
        select(FaceTemplate.ciphertext, FaceTemplate.model_version).where(
            FaceTemplate.rental_id == rental_id, FaceTemplate.kind == "embedding"
        )
    )
    vectors = [cipher.decrypt_embedding(blob, version) for blob, version in rows]
    return np.stack(vectors) if vectors else np.zeros((0, 512), np.float32)


def audit_after(session: Session, last_id: int = 0) -> list[AuditRecord]:
    """Audit entries with ``id > last_id``, in the order they were written."""
    rows = session.scalars(
        select(AuditEntry).where(AuditEntry.id > last_id).order_by(AuditEntry.id)
    )
    return [
        AuditRecord(
            e.id, e.at, e.actor, e.action, e.outcome, e.locker_label, e.rental_id, e.score, e.reason
        )
        for e in rows
    ]


def truncate_sqlite_wal(database: Database) -> None:
    """Checkpoint and truncate a SQLite database's write-ahead log (no-op elsewhere), so the next
    commits must allocate disk space again (the soak's full-disk fault)."""
    if database.dialect != "sqlite":
        return
    raw = database.engine.raw_connection()  # autocommit (see db.py): no BEGIN around it
    try:
        cursor = raw.cursor()
        cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        cursor.close()
    finally:
        raw.close()
