"""The harness's own record of the world, and the invariants checked against it.

The ledger knows what no kiosk can lie about: which lock the emulator fired and whether its door
opened (the emulator's pulse log), whose belongings are therefore in which locker, and what each
kiosk answered. After every cycle it is compared with the database:

- ``wrong_locker_opens``: a door opened for a customer while it held someone else's belongings,
  or a retrieve opened a locker that did not hold the retriever's belongings;
- ``unrequested_opens``: a lock fired while its kiosk was doing nothing that opens doors (an
  unlock replayed after a restart or a late reply);
- ``lost_rentals``: a locker holds someone's belongings, yet it is not flagged for staff and no
  active rental in it carries that person's templates (nobody could get them back);
- ``cross_bank_opens``: a kiosk fired a lock outside its own bank (see ``races.outside_bank``);
- ``double_bookings``: two active rentals on one locker in the database, or a kiosk handing out
  a locker whose rental, by the kiosks' own answers, was still running;
- ``orphaned_templates``: a face template of a rental that is no longer active;
- ``unresolved_intents``: an unlock intent without an outcome once every kiosk has stopped or
  been restarted (the start-up check must resolve the ones a crash left);
- ``audit_log``: an operation that left no audit entry, or an entry changed or deleted later;
- ``staff_open_during_registration`` and ``false_jams``: see :mod:`lockers.soak.races`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from lockers.config import LockerConfig
from lockers.soak.audit_check import AuditWatch
from lockers.soak.kiosks import Pulse
from lockers.soak.ops import OpKind, OpRecord, Violation
from lockers.soak.people import People
from lockers.soak.races import RACE_INVARIANTS, false_jams, outside_bank, staff_open_races
from lockers.store import consistency, inspection
from lockers.store.crypto import TemplateCipher
from lockers.store.db import Session

INVARIANTS = (
    "wrong_locker_opens",
    "cross_bank_opens",
    "unrequested_opens",
    "lost_rentals",
    "double_bookings",
    "orphaned_templates",
    "unresolved_intents",
    "audit_log",
    *RACE_INVARIANTS,
)
MATCH_COSINE = 0.5  # stored templates are a person's when their mean cosine to its base is this
_RENTAL_OUTCOMES = ("opened", "reopened_existing", "door_not_confirmed")
_NEVER_OPENS = (OpKind.EXPIRE, OpKind.STAFF_OUT_OF_SERVICE, OpKind.STAFF_BACK_IN_SERVICE)


_Event = tuple[float, int, str, "OpRecord", str]
"""(when, order among equal times, what: open/begin/end/emptied, the op, locker label)"""


class Ledger:
    """Physical truth and the kiosks' answers, cycle by cycle (see the module docstring)."""

    def __init__(
        self,
        lockers: Sequence[LockerConfig],
        people: People,
        bank_of: Mapping[str, int] | None = None,
    ) -> None:
        self.people = people
        self.labels = {(lk.board, lk.channel): lk.label for lk in lockers}
        # label -> the kiosk whose board alone may fire its lock (one bank per kiosk)
        self.bank_of: Mapping[str, int] = bank_of or {}
        self.contents: dict[str, int] = {}  # label -> person whose belongings are inside
        self.rentals: dict[str, tuple[int, int]] = {}  # label -> (rental id, person) by answers
        self.out_of_service: set[str] = set()
        self.staff_pending: set[str] = set()  # a staff reset was interrupted: staff are on it
        self.with_staff: dict[str, int] = {}  # label -> person whose belongings staff took out
        self.violations: list[Violation] = []
        self.counts: Counter[str] = Counter()
        self._reported: set[object] = set()
        self.audit = AuditWatch(self.violate)

    # -- recording -------------------------------------------------------------------------

    def violate(
        self,
        invariant: str,
        cycle: int,
        detail: str,
        key: object = None,
        *,
        label: str | None = None,
        person: int | None = None,
    ) -> None:
        """Record a violation (about ``label`` and ``person``) once per ``key`` (a lasting
        state is one violation, not one per cycle it lasts)."""
        if key is not None:
            if (invariant, key) in self._reported:
                return
            self._reported.add((invariant, key))
        self.counts[invariant] += 1
        self.violations.append(Violation(invariant, cycle, detail, label, person))

    def holdings(self, person: int) -> list[str]:
        return [label for label, who in self.contents.items() if who == person]

    # -- applying one cycle ----------------------------------------------------------------

    def apply(
        self,
        cycle: int,
        records: Sequence[OpRecord],
        pulses: Iterable[Pulse],
        flags: Mapping[str, str | None] | None = None,
    ) -> None:
        """Replay the cycle's physical events and answers in time order; ``flags`` are the
        lockers' staff flags after the cycle (label -> reason; they settle whether a killed
        staff reset committed)."""
        flags = flags or {}
        pulses = list(pulses)
        for finding in staff_open_races(records) + false_jams(records, pulses, self.labels):
            self.violate(
                finding.invariant,
                cycle,
                finding.detail,
                label=finding.label,
                person=finding.person,
            )
        events = self._pulse_events(cycle, records, pulses)
        for record in records:
            if record.report is None:
                events += self._killed_events(record, flags)
            else:
                events += self._answer_events(record)
        for _at, _order, what, record, label in sorted(events, key=lambda e: (e[0], e[1])):
            if what == "open":
                self._opened(cycle, record, label)
            elif what == "begin":
                self._rental_begins(cycle, record, label)
            elif what == "end":
                self.rentals.pop(label, None)
            else:  # staff emptied the locker and handed the belongings back
                holder = self.contents.pop(label, None)
                if holder is not None:
                    self.with_staff[label] = holder
                self.rentals.pop(label, None)
                self.staff_pending.discard(label)
        for record in records:
            self._after(record)

    def _pulse_events(
        self, cycle: int, records: Sequence[OpRecord], pulses: Iterable[Pulse]
    ) -> list[_Event]:
        """Doors that opened, each with the op that was running on its kiosk; a lock fired
        while nothing that opens doors ran is a violation."""
        events: list[_Event] = []
        for pulse in pulses:
            label = self.labels.get((pulse.board, pulse.channel))
            stray = outside_bank(pulse, label, self.bank_of)
            if stray:
                self.violate("cross_bank_opens", cycle, stray, label=label)
                continue
            record = next(
                (
                    r
                    for r in records
                    if r.kiosk == pulse.kiosk and r.started <= pulse.at <= r.finished
                ),
                None,
            )
            if record is None or record.op.kind in _NEVER_OPENS:
                what = "no operation" if record is None else record.op.kind.value
                self.violate(
                    "unrequested_opens",
                    cycle,
                    f"lock of locker {label} fired on kiosk {pulse.kiosk} during {what}",
                    label=label,
                )
                continue
            if pulse.released and label is not None:
                events.append((pulse.at, 1, "open", record, label))
        return events

    def _answer_events(self, record: OpRecord) -> list[_Event]:
        """What an answered op did to the rentals, at the step where it did it."""
        steps, report, kind = record.steps, record.report, record.op.kind
        if report is None or report.label is None:
            return []
        label = report.label
        if kind is OpKind.REGISTER and "register:claimed" in steps:
            events: list[_Event] = [(steps["register:claimed"], 0, "begin", record, label)]
            if report.outcome not in _RENTAL_OUTCOMES and "register:pulsed" in steps:
                events.append((steps["register:pulsed"], 2, "end", record, label))
            return events
        if kind is OpKind.RETRIEVE and report.outcome == "opened":
            return [(steps.get("retrieve:ended", record.finished), 2, "end", record, label)]
        if kind is OpKind.STAFF_RESET and report.outcome == "reset":
            # Staff empty the locker when they open it, before the reset commits: another
            # kiosk may claim the locker as soon as it has (so not the commit's time).
            at = steps.get("force_open:committed", record.started)
            return [(at, 2, "emptied", record, label)]
        return []

    def _killed_events(self, record: OpRecord, flags: Mapping[str, str | None]) -> list[_Event]:
        """A killed op may have committed its end just before it died, and another kiosk may
        reuse the locker in the same cycle: count it as ended at its in-transaction step (the
        database settles it at the end of the cycle, see :meth:`reconcile`)."""
        steps, op = record.steps, record.op
        if op.kind is OpKind.RETRIEVE and "retrieve:ended" in steps:
            labels = [label for label, (_r, who) in self.rentals.items() if who == op.person]
            return [(steps["retrieve:ended"], 2, "end", record, label) for label in labels]
        resetting = op.kind is OpKind.STAFF_RESET and op.label is not None
        if resetting and _reset_committed(record, flags.get(str(op.label), "")):
            at = steps.get("force_open:committed", record.started)
            return [(at, 2, "emptied", record, str(op.label))]
        return []

    def _opened(self, cycle: int, record: OpRecord, label: str) -> None:
        kind, person = record.op.kind, record.op.person
        holder = self.contents.get(label)
        self.counts["doors_opened"] += 1
        if kind is OpKind.REGISTER:
            if holder is not None and holder != person:
                self.violate(
                    "wrong_locker_opens",
                    cycle,
                    f"locker {label} holding person {holder}'s belongings opened for person "
                    f"{person}'s registration on {record.kiosk_id}",
                    label=label,
                    person=person,
                )
                return
            if person is not None:
                self.contents[label] = person
                self.with_staff.pop(label, None)
        elif kind is OpKind.RETRIEVE:
            if holder == person:
                del self.contents[label]
                return
            if holder is None and person is not None and self.with_staff.get(label) == person:
                # Staff took the renter's belongings out a moment before and their rental still
                # ran: their own locker opened for them (empty; the belongings are with staff).
                del self.with_staff[label]
                return
            whose = "nothing" if holder is None else f"person {holder}'s belongings"
            self.violate(
                "wrong_locker_opens",
                cycle,
                f"locker {label} holding {whose} opened for person {person}'s retrieve on "
                f"{record.kiosk_id}",
                label=label,
                person=person,
            )

    def _rental_begins(self, cycle: int, record: OpRecord, label: str) -> None:
        report, person = record.report, record.op.person
        if report is None or person is None:
            return
        running = self.rentals.get(label)
        if running is not None and running[1] != person and running[0] != report.rental_id:
            self.violate(
                "double_bookings",
                cycle,
                f"{record.kiosk_id} gave locker {label} to person {person} (rental "
                f"{report.rental_id}) while rental {running[0]} of person {running[1]} ran",
                label=label,
                person=person,
            )
        if report.rental_id is not None:
            self.rentals[label] = (report.rental_id, person)

    def _after(self, record: OpRecord) -> None:
        report, op = record.report, record.op
        failed = report is None or report.outcome == "error"
        if op.kind is OpKind.STAFF_RESET and failed and op.label is not None:
            self.staff_pending.add(op.label)
        if report is None or report.outcome == "error":
            return
        if op.kind is OpKind.STAFF_OUT_OF_SERVICE:
            self.out_of_service.add(str(op.label))
        elif op.kind is OpKind.STAFF_BACK_IN_SERVICE:
            self.out_of_service.discard(str(op.label))
        elif op.kind is OpKind.EXPIRE and report.expired:
            gone = set(report.expired)
            for label, (rental_id, _person) in list(self.rentals.items()):
                if rental_id in gone:
                    del self.rentals[label]

    def reconcile(self, session: Session, cipher: TemplateCipher, suspects: Sequence[int]) -> None:
        """After a crash or a database failure the kiosk's answer is missing: take the rentals
        from the database, naming each unknown one's person from its templates."""
        known = {rental_id: person for rental_id, person in self.rentals.values()}
        rebuilt: dict[str, tuple[int, int]] = {}
        states = inspection.locker_states(session)
        for state in states:
            rental_id = state.active_rental_id
            if rental_id is None:
                continue
            person = known.get(rental_id)
            if person is None:
                templates = inspection.rental_embeddings(session, cipher, rental_id)
                person = next(
                    (p for p in suspects if self.people.matches(p, templates, MATCH_COSINE)), -1
                )
            rebuilt[state.label] = (rental_id, person)
        self.rentals = rebuilt
        self.out_of_service = {s.label for s in states if s.status == "out_of_service"}

    # -- checks against the database -------------------------------------------------------

    def check_store(
        self,
        cycle: int,
        session: Session,
        cipher: TemplateCipher,
        records: Sequence[OpRecord],
        *,
        full_audit: bool = False,
    ) -> None:
        """The database-side invariants (all kiosks idle, crashed ones restarted)."""
        for label, ids in inspection.doubly_rented_lockers(session):
            self.violate(
                "double_bookings",
                cycle,
                f"locker {label} holds {len(ids)} active rentals {ids}",
                key=ids,
                label=label,
            )
        for problem in consistency.invariant_violations(session):
            if "available but holds" in problem:  # the next registration would double-book
                self.violate("double_bookings", cycle, problem, key=problem)
        for template_id, rental_id, state in inspection.templates_of_closed_rentals(session):
            self.violate(
                "orphaned_templates",
                cycle,
                f"template {template_id} kept for {state} rental {rental_id}",
                key=template_id,
            )
        for request_id, purpose, kiosk_id in inspection.unresolved_unlocks(session):
            self.violate(
                "unresolved_intents",
                cycle,
                f"{purpose} unlock {request_id} of {kiosk_id} has no outcome after every kiosk "
                "stopped or ran its start-up check",
                key=request_id,
            )
        self._check_belongings(cycle, session, cipher)
        self.audit.check(cycle, session, records, full=full_audit)

    def _check_belongings(self, cycle: int, session: Session, cipher: TemplateCipher) -> None:
        lockers = {state.label: state for state in inspection.locker_states(session)}
        for label, person in sorted(self.contents.items()):
            state = lockers.get(label)
            if state is None or label in self.staff_pending or state.attention is not None:
                continue
            rental_id = state.active_rental_id
            templates = (
                inspection.rental_embeddings(session, cipher, rental_id)
                if rental_id is not None
                else np.zeros((0, 512), np.float32)
            )
            if not self.people.matches(person, templates, MATCH_COSINE):
                why = (
                    "no active rental" if rental_id is None else f"rental {rental_id} is not theirs"
                )
                self.violate(
                    "lost_rentals",
                    cycle,
                    f"locker {label} holds person {person}'s belongings, is not flagged for "
                    f"staff, and {why}",
                    key=(label, person, rental_id),
                    label=label,
                    person=person,
                )

    def verify_audit(self, cycle: int, session: Session) -> None:
        """Every audit entry seen so far is still there, unchanged."""
        self.audit.verify(cycle, session)


STAFF_OPENED = "opened by staff"  # the force-open's flag; only the reset's commit clears it


def _reset_committed(record: OpRecord, flag_after: str | None) -> bool:
    """Whether a killed staff reset committed, so staff emptied the locker (at the force-open)
    and it may have been handed out again in the same cycle.

    ``reset:committed`` proves it; death at the ``reset:ended`` checkpoint (inside the
    transaction) disproves it; a random kill after ``reset:ended`` is settled by the locker's
    flag after the cycle: the force-open's flag is still there unless the reset committed.
    An interrupted reset leaves the belongings inside: staff come back to it (soak finding,
    issue 17: the renter's retrieve of a locker whose reset died before its commit was counted
    as opening an empty locker).
    """
    steps = record.steps
    if "reset:committed" in steps:
        return True
    if "reset:ended" not in steps or record.op.die_at == "reset:ended":
        return False
    return STAFF_OPENED not in (flag_after or "")
