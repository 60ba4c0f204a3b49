"""What the kiosk's health poll saw at its own doors, written down for the site: a door's state
when it changes (so the console's "door left open" alert starts when the door opened and ends
when it closed) and each forced-open or jammed event as an audit entry (its door alerts).

Only the kiosk that owns a bank reads its doors, so only it writes them; unknown readings
(a silent board) change nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from lockers.store import audit, lockers_repo
from lockers.store.audit_values import AuditAction, AuditOutcome
from lockers.store.db import Database
from lockers.store.models import DoorStateValue

_SEEN = {"open": DoorStateValue.OPEN, "closed": DoorStateValue.CLOSED}
_EVENT_OUTCOMES = {"forced_open": AuditOutcome.FORCED_OPEN, "jammed": AuditOutcome.JAMMED}


def record_doors(
    database: Database,
    kiosk_id: str,
    doors: Mapping[str, str],
    events: Sequence[tuple[str | None, str, str]],
    now: datetime,
) -> int:
    """Store the changed door states of ``kiosk_id``'s bank (label → ``open``/``closed``/
    ``unknown``) and audit its door ``events`` (label or None, kind, detail); returns how many
    lockers changed. Nothing is written when nothing changed."""
    changed = []
    with database.transaction() as session:
        for locker in lockers_repo.list_lockers(session, kiosk_id):
            seen = _SEEN.get(doors.get(locker.label, ""))
            if seen is not None and locker.door_state != seen:
                locker.door_state = seen
                changed.append(locker.label)
        if events:
            trail = audit.Writer(session, now, f"kiosk:{kiosk_id}")
            for label, kind, detail in events:
                outcome = _EVENT_OUTCOMES.get(kind)
                if outcome is not None:
                    trail.add(AuditAction.DOOR_ALERT, outcome, label, None, detail or kind)
    return len(changed)
