"""The audit-log invariant: every completed op left its audit entries, and no entry seen is
ever changed or deleted later."""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable, Sequence

from lockers.soak.ops import OpKind, OpRecord
from lockers.store import inspection
from lockers.store.db import Session

Violate = Callable[..., None]
"""The ledger's ``violate(invariant, cycle, detail, key=None)``."""


class AuditWatch:
    """The audit entries seen so far (their digests) and the ops that must have left some."""

    def __init__(self, violate: Violate) -> None:
        self._violate = violate
        self._hashes: dict[int, str] = {}
        self._last_id = 0

    def check(
        self, cycle: int, session: Session, records: Sequence[OpRecord], *, full: bool
    ) -> None:
        new = inspection.audit_after(session, self._last_id)
        for entry in new:
            self._hashes[entry.id] = _digest(entry)
        if new:
            self._last_id = new[-1].id
        by_rental = {(e.action, e.rental_id) for e in new}
        no_match = Counter(e.actor for e in new if e.outcome == "no_match")
        for record in records:
            report = record.report
            if report is None or not record.completed:
                continue
            kind, actor = record.op.kind, f"kiosk:{record.kiosk_id}"
            wanted: list[tuple[str, int | None]] = []
            elsewhere = report.outcome in ("at_other_kiosk", "active_elsewhere")
            if elsewhere and report.rental_id is not None:  # nothing opened: no door outcome
                wanted = [(kind.value, report.rental_id)]
            elif kind is OpKind.REGISTER and report.rental_id is not None:
                wanted = [("register", report.rental_id), ("unlock", report.rental_id)]
            elif kind is OpKind.RETRIEVE and report.rental_id is not None:
                wanted = [("retrieve", report.rental_id), ("unlock", report.rental_id)]
            elif kind is OpKind.RETRIEVE and report.outcome == "no_match":
                if no_match[actor] > 0:
                    no_match[actor] -= 1
                else:
                    wanted = [("retrieve", None)]
            elif kind is OpKind.STAFF_RESET and not any(
                e.action == "reset" and e.locker_label == report.label for e in new
            ):
                wanted = [("reset", None)]
            for action, rental_id in wanted:
                if rental_id is None or (action, rental_id) not in by_rental:
                    self._violate(
                        "audit_log",
                        cycle,
                        f"{record.kiosk_id}'s {kind.value} (op {record.op.seq}, outcome "
                        f"{report.outcome}) left no {action!r} audit entry",
                    )
        if full:
            self.verify(cycle, session)

    def verify(self, cycle: int, session: Session) -> None:
        """Every entry seen so far is still there, unchanged."""
        present = {e.id: _digest(e) for e in inspection.audit_after(session, 0)}
        for entry_id, digest in self._hashes.items():
            now = present.get(entry_id)
            if now != digest:
                what = "deleted" if now is None else "changed"
                self._violate(
                    "audit_log", cycle, f"audit entry {entry_id} was {what}", key=("e", entry_id)
                )


def _digest(entry: inspection.AuditRecord) -> str:
    fields = (
        entry.at.isoformat(),
        entry.actor,
        entry.action,
        entry.locker_label,
        entry.rental_id,
        entry.score,
        entry.outcome,
        entry.reason,
    )
    return hashlib.sha256(repr(fields).encode()).hexdigest()
