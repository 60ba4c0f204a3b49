"""Unlock intents: committed before the board is told to open, finished in a second step."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from lockers.errors import StoreError
from lockers.store.models import Locker, UnlockPurpose, UnlockRequest


def request_unlock(
    session: Session,
    locker: Locker,
    purpose: UnlockPurpose,
    *,
    now: datetime,
    kiosk_id: str,
    rental_id: int | None = None,
) -> UnlockRequest:
    request = UnlockRequest(
        locker_id=locker.id,
        rental_id=rental_id,
        purpose=purpose,
        kiosk_id=kiosk_id,
        requested_at=now,
    )
    session.add(request)
    session.flush()
    return request


def finish_unlock(
    session: Session, request_id: int, outcome: str, detail: str, now: datetime
) -> UnlockRequest:
    request = session.get(UnlockRequest, request_id)
    if request is None:
        raise StoreError(
            f"unlock request {request_id} vanished before its outcome was recorded",
            hint="unlock requests are never deleted: check what else writes to this database",
        )
    request.outcome = outcome
    request.detail = detail
    request.finished_at = now
    session.flush()
    return request


def pending_unlocks(session: Session, kiosk_id: str | None = None) -> list[UnlockRequest]:
    """Unlock intents with no recorded outcome (a process died between the two steps)."""
    query = select(UnlockRequest).where(UnlockRequest.outcome.is_(None))
    if kiosk_id is not None:
        query = query.where(UnlockRequest.kiosk_id == kiosk_id)
    return list(session.scalars(query.order_by(UnlockRequest.id)))
