"""The audit log as the console filters it (pages and API share this)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from lockers.console.context import ConsoleContext
from lockers.errors import LockersError
from lockers.store import audit, console_queries
from lockers.store.audit_values import AuditAction, AuditOutcome
from lockers.store.console_queries import AuditQuery
from lockers.store.models import AuditEntry


class BadFilter(LockersError):
    """An audit filter value that cannot be understood."""


@dataclass(frozen=True)
class AuditFilters:
    """The filters as typed in the form or the query string (all optional)."""

    kiosk: str = ""
    locker: str = ""
    staff: str = ""
    action: str = ""
    since: str = ""
    until: str = ""
    before: int | None = None

    def as_params(self) -> dict[str, str]:
        fields = {
            "kiosk": self.kiosk,
            "locker": self.locker,
            "staff": self.staff,
            "action": self.action,
            "since": self.since,
            "until": self.until,
        }
        return {key: value for key, value in fields.items() if value}


def parse_time(value: str, field: str) -> datetime | None:
    """``2026-12-05``, ``2026-12-05T10:30`` or with an offset; naive values are UTC.

    Raises:
        BadFilter: not an ISO-8601 date or time.
    """
    if not value.strip():
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise BadFilter(
            f"{field} {value!r} is not a date or time", hint="use 2026-12-05 or 2026-12-05T10:30"
        ) from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def to_query(ctx: ConsoleContext, filters: AuditFilters) -> AuditQuery:
    """Raises: BadFilter: a bad time or an action that is not an AuditAction."""
    if filters.action and filters.action not in {a.value for a in AuditAction}:
        raise BadFilter(
            f"there is no audit action {filters.action!r}", hint="pick one from the list"
        )
    labels: list[str] = []
    if filters.kiosk:
        with ctx.database.transaction() as session:
            labels = console_queries.bank_labels(session, filters.kiosk)
    return AuditQuery(
        kiosk_id=filters.kiosk or None,
        kiosk_labels=labels,
        locker_label=filters.locker or None,
        staff=filters.staff or None,
        action=filters.action or None,
        since=parse_time(filters.since, "since"),
        until=parse_time(filters.until, "until"),
        before_id=filters.before,
    )


def page_of(ctx: ConsoleContext, filters: AuditFilters) -> tuple[list[AuditEntry], int | None]:
    """One page, newest first, and the ``before`` id of the next (older) page if any."""
    query = to_query(ctx, filters)
    size = ctx.settings.console.page_size
    with ctx.database.transaction() as session:
        rows = console_queries.audit_page(session, query, size + 1)
    more = len(rows) > size
    rows = rows[:size]
    return rows, (rows[-1].id if more and rows else None)


def export_csv(ctx: ConsoleContext, filters: AuditFilters, actor: str) -> Iterator[str]:
    """The matching entries as CSV chunks, oldest first; the export itself is audited.

    Each chunk is read in its own short transaction (keyset on the id), so a million rows
    stream without holding a connection across threads or the whole log in memory.

    Raises:
        BadFilter: before anything is streamed.
    """
    query = to_query(ctx, filters)
    with ctx.database.transaction() as session:
        audit.append(
            session,
            at=ctx.clock(),
            actor=actor,
            action=AuditAction.AUDIT_EXPORT,
            outcome=AuditOutcome.OK,
            reason="console CSV "
            + (", ".join(f"{k}={v}" for k, v in filters.as_params().items()) or "all"),
        )
    return _chunks(ctx, query)


def _chunks(ctx: ConsoleContext, query: AuditQuery, size: int = 2000) -> Iterator[str]:
    buffer = io.StringIO()
    after_id = 0
    first = True
    while True:
        with ctx.database.transaction() as session:
            batch = console_queries.audit_after(session, query, after_id, size)
        buffer.seek(0)
        buffer.truncate()
        audit.write_csv(iter(batch), buffer)
        text = buffer.getvalue()
        yield text if first else text.split("\r\n", 1)[1]
        first = False
        if len(batch) < size:
            return
        after_id = batch[-1].id


ACTIONS = [a.value for a in AuditAction]
