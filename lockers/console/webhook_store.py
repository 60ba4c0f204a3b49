"""The webhook deliveries table (``console_webhook_deliveries``): one row per alert and
receiver, created when the console first sees the alert, updated after every attempt.

Nothing here commits: the dispatcher (:mod:`lockers.console.webhooks`) owns its transactions.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from lockers.store.console_models import WebhookDelivery

MAX_ERROR = 300  # characters of a receiver's error kept per attempt


@dataclass(frozen=True)
class DeliveryView:
    """A delivery as the alerts page and the dispatcher see it."""

    id: int
    alert_key: str
    url: str
    payload: str
    attempts: int
    next_attempt_at: datetime
    last_attempt_at: datetime | None
    last_status: int | None
    last_error: str | None
    delivered_at: datetime | None
    gave_up_at: datetime | None

    @property
    def state(self) -> str:
        if self.delivered_at is not None:
            return "delivered"
        if self.gave_up_at is not None:
            return "gave up"
        return "retrying" if self.attempts else "queued"


def _view(row: WebhookDelivery) -> DeliveryView:
    return DeliveryView(
        id=row.id,
        alert_key=row.alert_key,
        url=row.url,
        payload=row.payload,
        attempts=row.attempts,
        next_attempt_at=row.next_attempt_at,
        last_attempt_at=row.last_attempt_at,
        last_status=row.last_status,
        last_error=row.last_error,
        delivered_at=row.delivered_at,
        gave_up_at=row.gave_up_at,
    )


def announced(session: Session, keys: Iterable[str], url: str) -> set[str]:
    """Which of ``keys`` already have a delivery row for ``url``."""
    wanted = list(keys)
    if not wanted:
        return set()
    rows = session.scalars(
        select(WebhookDelivery.alert_key).where(
            WebhookDelivery.url == url, WebhookDelivery.alert_key.in_(wanted)
        )
    )
    return set(rows)


def add(session: Session, alert_key: str, url: str, payload: str, now: datetime) -> None:
    """Queue one alert for one receiver, due at once."""
    session.add(
        WebhookDelivery(
            alert_key=alert_key,
            url=url,
            payload=payload,
            created_at=now,
            attempts=0,
            next_attempt_at=now,
        )
    )
    session.flush()


def claim_due(
    session: Session, now: datetime, lease_until: datetime, limit: int
) -> list[DeliveryView]:
    """Up to ``limit`` deliveries due now, oldest first, each pushed to ``lease_until`` with a
    conditional UPDATE, so two consoles on one database never send the same one at once."""
    due = session.scalars(
        select(WebhookDelivery)
        .where(
            WebhookDelivery.delivered_at.is_(None),
            WebhookDelivery.gave_up_at.is_(None),
            WebhookDelivery.next_attempt_at <= now,
        )
        .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
        .limit(limit)
    )
    claimed: list[DeliveryView] = []
    for row in list(due):
        won = session.execute(
            update(WebhookDelivery)
            .where(
                WebhookDelivery.id == row.id,
                WebhookDelivery.next_attempt_at == row.next_attempt_at,
            )
            .values(next_attempt_at=lease_until)
            .execution_options(synchronize_session=False)
        )
        if won.rowcount == 1:  # type: ignore[attr-defined]
            claimed.append(_view(row))
    return claimed


def record_attempt(
    session: Session,
    delivery_id: int,
    now: datetime,
    *,
    status: int | None,
    error: str | None,
    retry_at: datetime | None,
) -> None:
    """One attempt's result: delivered (no ``error``), retried at ``retry_at``, or given up
    (an ``error`` and no ``retry_at``)."""
    row = session.get(WebhookDelivery, delivery_id)
    if row is None:
        return
    row.attempts += 1
    row.last_attempt_at = now
    row.last_status = status
    row.last_error = None if error is None else error[:MAX_ERROR]
    if error is None:
        row.delivered_at = now
    elif retry_at is None:
        row.gave_up_at = now
    else:
        row.next_attempt_at = retry_at
    session.flush()


def recent(session: Session, limit: int = 50) -> list[DeliveryView]:
    """The newest deliveries, newest first (the alerts page)."""
    rows = session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id.desc()).limit(limit))
    return [_view(row) for row in rows]


def of_alerts(session: Session, keys: Iterable[str]) -> dict[str, list[DeliveryView]]:
    """{alert key: its deliveries} for the given alerts."""
    wanted = list(keys)
    if not wanted:
        return {}
    found: dict[str, list[DeliveryView]] = {}
    rows = session.scalars(
        select(WebhookDelivery)
        .where(WebhookDelivery.alert_key.in_(wanted))
        .order_by(WebhookDelivery.id)
    )
    for row in rows:
        found.setdefault(row.alert_key, []).append(_view(row))
    return found


def next_due(session: Session) -> datetime | None:
    """When the next undelivered delivery is due (None: nothing left to send)."""
    return session.scalar(
        select(WebhookDelivery.next_attempt_at)
        .where(WebhookDelivery.delivered_at.is_(None), WebhookDelivery.gave_up_at.is_(None))
        .order_by(WebhookDelivery.next_attempt_at)
        .limit(1)
    )
