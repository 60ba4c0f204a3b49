"""What staff read: the locker list with each active rental, and the audit log export (also
used by the CLI)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from sqlalchemy import select

from lockers.errors import LockersError
from lockers.kiosk.dto import LockerView
from lockers.store import audit, lockers_repo
from lockers.store.audit_values import AuditAction, AuditOutcome
from lockers.store.db import Database, Session
from lockers.store.models import Kiosk, Locker


def export_audit_csv(
    database: Database, path: Path, actor: str, now: datetime, since: datetime | None = None
) -> int:
    """Write the audit log (from ``since``) to a CSV file via a ``.partial`` file; returns
    the row count. Audited.

    Raises:
        LockersError: the file cannot be written.
    """
    tmp = path.with_name(path.name + ".partial")
    try:
        with database.transaction() as session:
            with tmp.open("w", newline="", encoding="utf-8") as out:
                count = audit.write_csv(audit.entries(session, since), out)
            why = f"{count} entries to {path.name}"
            audit.Writer(session, now, actor).add(
                AuditAction.AUDIT_EXPORT, AuditOutcome.OK, reason=why
            )
        tmp.replace(path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise LockersError(
            f"cannot write the audit export {path}: {exc.strerror}",
            hint="choose a writable location with free space",
        ) from None
    return count


def list_lockers(
    database: Database, now: datetime, kiosk_id: str | None = None
) -> list[LockerView]:
    """Every locker in service of the site (or of kiosk ``kiosk_id``'s bank) with its active
    rental (if any) and the kiosk whose bank it is in."""
    with database.transaction() as session:
        names: dict[str, str] = {
            kiosk_id: name
            for kiosk_id, name in session.execute(select(Kiosk.id, Kiosk.display_name))
        }
        return [
            _view(session, locker, now, names.get(locker.kiosk_id, locker.kiosk_id))
            for locker in lockers_repo.list_lockers(session, kiosk_id)
        ]


def _view(session: Session, locker: Locker, now: datetime, kiosk_name: str) -> LockerView:
    rental = lockers_repo.active_rental_of(session, locker.id)
    return LockerView(
        label=locker.label,
        size=locker.size.value,
        board=locker.board,
        channel=locker.channel,
        status=locker.status.value,
        door_state=locker.door_state.value,
        attention=locker.attention,
        rental_id=None if rental is None else rental.id,
        rental_started_at=None if rental is None else rental.started_at,
        rental_ends_at=None if rental is None else rental.ends_at,
        overdue=rental is not None and rental.ends_at <= now,
        kiosk_id=locker.kiosk_id,
        kiosk_name=kiosk_name,
    )
