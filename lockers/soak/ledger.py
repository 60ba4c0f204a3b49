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
- ``staff_open_during_registration`` and ``false_jams``: see :mod:`lockers.soak.races`;
- ``stale_commands_run`` and ``lost_commands``: see :mod:`lockers.soak.commands_check` (a lock
  fired by a site command the owning kiosk's agent ran is that command's, not an op's).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence

from lockers.config import LockerConfig
from lockers.soak.audit_check import AuditWatch
from lockers.soak.belongings import MATCH_COSINE, unreachable
from lockers.soak.commands_check import COMMAND_INVARIANTS, CommandWatch, reset_committed
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
    *COMMAND_INVARIANTS,
)
_RENTAL_OUTCOMES = ("opened", "reopened_existing", "door_not_confirmed")
_NEVER_OPENS = (
    OpKind.EXPIRE,
    OpKind.STAFF_OUT_OF_SERVICE,
    OpKind.STAFF_BACK_IN_SERVICE,
    OpKind.COMMAND,  # the owning kiosk's agent opens, on its own board
)


_Event = tuple[float, int, str, "OpRecord | None", str]
"""(when, order among equal times, what: open/begin/end/emptied, the op (none for a command),
locker label)"""


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
        self.commands = CommandWatch(self.violate)

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
        own = [p for p in pulses if not self._outside_ops(cycle, p)]
        beside_a_command = self.commands.beside_commands(records)
        jams = false_jams([r for r in records if r not in beside_a_command], own, self.labels)
        for finding in staff_open_races(records) + jams:
            self.violate(
                finding.invariant,
                cycle,
                finding.detail,
                label=finding.label,
                person=finding.person,
            )
        events = self._pulse_events(cycle, records, own)
        events += [(at, 2, "emptied", None, lb) for at, lb in self.commands.settle_resets(flags)]
        for record in records:
            if record.report is None:
                events += self._killed_events(record, flags)
            else:
                events += self._answer_events(record)
        for _at, _order, what, op_record, label in sorted(events, key=lambda e: (e[0], e[1])):
            if what == "open" and op_record is not None:
                self._opened(cycle, op_record, label)
            elif what == "begin" and op_record is not None:
                self._rental_begins(cycle, op_record, label)
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

    def _outside_ops(self, cycle: int, pulse: Pulse) -> bool:
        """A lock fired outside the kiosk's bank (a violation), or by a site command."""
        label = self.labels.get((pulse.board, pulse.channel))
        stray = outside_bank(pulse, label, self.bank_of)
        if stray:
            self.violate("cross_bank_opens", cycle, stray, label=label)
        return bool(stray) or self.commands.attribute(pulse, label) is not None

    def _pulse_events(
        self, cycle: int, records: Sequence[OpRecord], pulses: Iterable[Pulse]
    ) -> list[_Event]:
        """Doors that opened, each with the op that was running on its kiosk; a lock fired
        while nothing that opens doors ran is a violation."""
        events: list[_Event] = []
        for pulse in pulses:
            label = self.labels.get((pulse.board, pulse.channel))
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
        if resetting and reset_committed(record.steps, op.die_at, flags.get(str(op.label), "")):
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
        drain: Callable[[], None] = lambda: None,
        down: Collection[str] = (),
    ) -> None:
        """The database-side invariants (every op answered, crashed kiosks restarted; site
        agents may still run commands: ``drain`` reads what they did up to now, after the
        reads, so whatever the reads saw half-done is known to be in flight; the kiosks
        ``down`` have not run their start-up check yet)."""
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
        unresolved = inspection.unresolved_unlocks(session)
        states = inspection.locker_states(session)
        drain()
        running = self.commands.in_flight()
        self._unresolved(cycle, self.commands.settled_intents(unresolved, down))
        staff_on = self.staff_pending | {run.label for run in running if run.action == "reset"}
        for label, person, rental_id, why in unreachable(
            self.contents, self.people, states, session, cipher, staff_on
        ):
            self.violate(
                "lost_rentals",
                cycle,
                f"locker {label} holds person {person}'s belongings, is not flagged for staff, "
                f"and {why}",
                key=(label, person, rental_id),
                label=label,
                person=person,
            )
        self.audit.check(cycle, session, records, full=full_audit)
        self.commands.check(cycle, session, time.monotonic())

    def _unresolved(self, cycle: int, intents: Sequence[tuple[int, str, str]]) -> None:
        for request_id, purpose, kiosk_id in intents:
            self.violate(
                "unresolved_intents",
                cycle,
                f"{purpose} unlock {request_id} of {kiosk_id} has no outcome after every kiosk "
                "stopped or ran its start-up check",
                key=request_id,
            )

    def verify_audit(self, cycle: int, session: Session) -> None:
        """Every audit entry seen so far is still there, unchanged."""
        self.audit.verify(cycle, session)
