"""What happened to each locker and each person, cycle by cycle: the story a violation carries.

Every op of every cycle becomes one entry (plain data for the JSON): who asked what on which
kiosk, the fault injected, the steps it reached, whether it was killed, what the kiosk answered,
the locks the emulator fired meanwhile, the database fault of the cycle, the start-up check's
findings when the kiosk restarted, and the locker's state in the database after the cycle. A
violation then carries the entries about its locker and its person, so a finding can be
diagnosed from ``--json`` alone.
"""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Iterable, Sequence
from typing import Any

from lockers.soak.kiosks import Pulse
from lockers.soak.ops import OpRecord
from lockers.store.inspection import LockerState

PER_SUBJECT = 40  # entries kept per locker and per person: many cycles of a busy locker


def _ms(at: float, since: float) -> int:
    return round((at - since) * 1000)


def describe_record(
    cycle: int,
    record: OpRecord,
    pulses: Iterable[Pulse],
    labels: dict[tuple[int, int], str],
) -> dict[str, Any]:
    """One op as plain data; times in ms since the op was sent."""
    op, report = record.op, record.report
    entry: dict[str, Any] = {
        "cycle": cycle,
        "kiosk": record.kiosk_id,
        "op": op.seq,
        "kind": op.kind.value,
        "person": op.person,
        "label": op.label,
    }
    if op.die_at:
        entry["die_at"] = op.die_at
    if record.fault:
        entry["board_fault"] = record.fault
    entry["steps"] = {name: _ms(at, record.started) for name, at in sorted(record.steps.items())}
    if report is None:
        entry["answer"] = "killed"
    else:
        entry["answer"] = report.outcome
        entry["answer_label"] = report.label
        entry["rental_id"] = report.rental_id
        if report.error:
            entry["error"] = f"{report.error_kind}: {report.error}"
        if report.board_events:
            entry["board_events"] = list(report.board_events)
    entry["locks_fired"] = [
        {
            "locker": labels.get((p.board, p.channel), f"{p.board}/{p.channel}"),
            "at_ms": _ms(p.at, record.started),
            "door": "opened" if p.released else "stayed shut",
        }
        for p in pulses
        if p.kiosk == record.kiosk
    ]
    return entry


class History:
    """Recent entries per locker label and per person (see the module docstring)."""

    def __init__(self) -> None:
        self._by_label: dict[str, deque[dict[str, Any]]] = defaultdict(
            lambda: deque(maxlen=PER_SUBJECT)
        )
        self._by_person: dict[int, deque[dict[str, Any]]] = defaultdict(
            lambda: deque(maxlen=PER_SUBJECT)
        )

    def add(self, entry: dict[str, Any]) -> None:
        """File ``entry`` under every locker it names and its person."""
        for label in _labels_of(entry):
            self._by_label[label].append(entry)
        if entry.get("person") is not None:
            self._by_person[int(entry["person"])].append(entry)

    def note_states(self, entries: Sequence[dict[str, Any]], states: Sequence[LockerState]) -> None:
        """Add the database's view of each entry's lockers after the cycle."""
        by_label = {s.label: s for s in states}
        for entry in entries:
            after = {}
            for label in sorted(_labels_of(entry)):
                state = by_label.get(label)
                if state is not None:
                    after[label] = {
                        "status": state.status,
                        "rental": state.active_rental_id,
                        "flagged": state.attention,
                    }
            entry["db_after"] = after

    def about(self, label: str | None, person: int | None) -> list[dict[str, Any]]:
        """The entries about ``label`` or ``person``, oldest first, each once."""
        picked: dict[int, dict[str, Any]] = {}
        if label is not None:
            for entry in self._by_label.get(label, ()):
                picked[id(entry)] = entry
        if person is not None:
            for entry in self._by_person.get(person, ()):
                picked[id(entry)] = entry
        return sorted(picked.values(), key=lambda e: (e["cycle"], e["op"]))


def _labels_of(entry: dict[str, Any]) -> set[str]:
    labels = {entry.get("label"), entry.get("answer_label")}
    labels |= {fired["locker"] for fired in entry.get("locks_fired", ())}
    labels |= {finding.get("locker") for finding in entry.get("startup_findings", ())}
    return {str(label) for label in labels if label is not None}
