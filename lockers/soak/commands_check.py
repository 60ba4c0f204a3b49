"""Site commands in the ledger: every command sent, what each owning kiosk's agent did with it
(its :class:`~lockers.soak.ops.CommandEvent` s and the emulator's pulses), and their invariants.

- ``stale_commands_run``: a command executed after it expired (claimed past ``expires_at``; run
  although the database finished it as ``expired``; begun more than its time to live after the
  ledger first saw it sent, so certainly late whatever the kiosks' clocks), or executed twice
  (two executions, two ``command_run`` entries, two force-open intents naming it, two lock
  pulses in one execution), or both finished and expired;
- ``lost_commands``: after the run (every kiosk back and idle) a command still unfinished, or
  finished with a result that no ``command_run`` audit entry records.
- ``false_jams`` (see :mod:`lockers.soak.races`) for commands: a command answered ``jammed``
  although the latch of its locker released during it.

And when a staff reset committed (``reset_committed``), local or by command: staff emptied the
locker then.
"""

from __future__ import annotations

import re
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select

from lockers.soak.kiosks import Pulse
from lockers.soak.ops import CommandEvent, OpRecord
from lockers.store import inspection
from lockers.store.audit_values import AuditAction, AuditOutcome
from lockers.store.db import Session
from lockers.store.models import CommandResult, SiteCommand, UnlockPurpose

COMMAND_INVARIANTS = ("stale_commands_run", "lost_commands")
LATE_SLACK_S = 0.5  # scheduling slack before "begun past its time to live" is certain
STAFF_OPENED = "opened by staff"  # the force-open's flag; only the reset's commit clears it
RECENT = 64  # executions kept for matching pulses (a cycle runs a handful)
RAN = {r.value for r in CommandResult} - {
    CommandResult.EXPIRED.value,
    CommandResult.INTERRUPTED.value,
}
_COMMAND_ID = re.compile(r"^command (\d+):")  # command_* audit entries
_NAMED_IN = re.compile(r"\(command (\d+) from ")  # the staff action a command carried out
_EFFECTS = {
    AuditAction.FORCE_OPEN.value,
    AuditAction.RESET.value,
    AuditAction.OUT_OF_SERVICE.value,
    AuditAction.BACK_IN_SERVICE.value,
}

Violate = Callable[..., None]


@dataclass
class Execution:
    """One command as one kiosk's agent ran it (``end`` None: still running, or it died)."""

    kiosk: int
    kiosk_id: str
    command_id: int
    action: str
    label: str
    begin: float
    end: float | None = None
    result: str = ""
    steps: dict[str, float] = field(default_factory=dict)
    pulses: int = 0
    released: int = 0  # pulses whose latch released a closed door
    died: bool = False
    settled: bool = False  # its effect on the ledger (a reset's emptying) is applied


@dataclass(frozen=True)
class CommandRow:
    """A ``site_commands`` row as the ledger saw it."""

    id: int
    kiosk_id: str
    action: str
    label: str
    created_at: datetime
    expires_at: datetime
    claimed_at: datetime | None
    finished_at: datetime | None
    result: str | None

    @property
    def ttl_s(self) -> float:
        return (self.expires_at - self.created_at).total_seconds()


class CommandWatch:
    """The commands and their executions (see the module docstring)."""

    def __init__(self, violate: Violate) -> None:
        self._violate = violate
        self.rows: dict[int, CommandRow] = {}
        self.first_seen: dict[int, float] = {}  # monotonic: no later than the send + one cycle
        self.executions: dict[int, list[Execution]] = defaultdict(list)
        self._running: dict[int, Execution] = {}  # kiosk -> its agent's current execution
        self._recent: list[Execution] = []  # the last executions (pulses are matched to them)
        self._dirty: set[int] = set()  # commands to check again: new rows, entries, executions
        self._audit_last = 0
        self._logged: dict[str, Counter[int]] = defaultdict(Counter)  # action -> per command
        self._flagged: set[tuple[str, int]] = set()
        self._op_ends: dict[int, float] = {}  # kiosk -> when its last op was answered

    # -- what the kiosks did -----------------------------------------------------------------

    def take(self, kiosk: int, kiosk_id: str, events: Iterable[CommandEvent]) -> None:
        for event in events:
            if event.what == "begin":
                run = Execution(
                    kiosk, kiosk_id, event.command_id, event.action, event.label, event.at
                )
                self.executions[event.command_id].append(run)
                self._recent = [*self._recent[-RECENT:], run]
                previous = self._running.get(kiosk)
                if previous is not None:  # it ended without a word (an error): before this one
                    previous.end = event.at
                self._running[kiosk] = run
                self._dirty.add(event.command_id)
                continue
            run_or_none = self._running.get(kiosk)
            if run_or_none is None or run_or_none.command_id != event.command_id:
                continue  # its begin was lost with a killed predecessor: nothing to attach to
            if event.what == "end":
                run_or_none.end, run_or_none.result = event.at, event.result
                del self._running[kiosk]
                self._dirty.add(event.command_id)
            else:
                run_or_none.steps[event.what] = event.at

    def kiosk_died(self, kiosk: int) -> None:
        """``kiosk``'s process is gone (killed or stopped): its running command ended by now."""
        run = self._running.pop(kiosk, None)
        if run is not None:
            run.died, run.end = True, time.monotonic()

    def in_flight(self) -> list[Execution]:
        return list(self._running.values())

    def settled_intents(
        self, unresolved: Sequence[tuple[int, str, str]], down: Collection[str]
    ) -> list[tuple[int, str, str]]:
        """The unresolved unlock intents ``(id, purpose, kiosk id)`` that should have an
        outcome by now: not a command's door moving right now, not of a kiosk still down (its
        start-up check resolves them)."""
        moving = {run.kiosk_id for run in self._running.values()}
        return [
            (request_id, purpose, kiosk_id)
            for request_id, purpose, kiosk_id in unresolved
            if kiosk_id not in down
            and not (purpose == UnlockPurpose.FORCE_OPEN.value and kiosk_id in moving)
        ]

    def attribute(self, pulse: Pulse, label: str | None) -> Execution | None:
        """The execution that fired ``pulse`` (its kiosk, its locker, during it), if any."""
        for run in self._recent:
            if run.kiosk != pulse.kiosk or run.label != label or pulse.at < run.begin:
                continue
            if run.end is None or pulse.at <= run.end:
                run.pulses += 1
                run.released += pulse.released and not pulse.was_open
                self._dirty.add(run.command_id)
                return run
        return None

    def overlaps(self, kiosk: int, start: float, end: float) -> bool:
        """Whether ``kiosk``'s agent ran a command between ``start`` and ``end``."""
        return any(
            run.kiosk == kiosk and run.begin <= end and (run.end is None or run.end >= start)
            for run in self._recent
        )

    def beside_commands(self, records: Sequence[OpRecord]) -> list[OpRecord]:
        """The ``records`` whose kiosk's agent ran a command since that kiosk's previous op was
        answered: the board's alerts the op reports (drained at its end) may be the command's."""
        found = []
        for record in records:
            since = self._op_ends.get(record.kiosk, 0.0)
            if self.overlaps(record.kiosk, since, record.finished):
                found.append(record)
            self._op_ends[record.kiosk] = record.finished
        return found

    def settle_resets(self, flags: Mapping[str, str | None]) -> list[tuple[float, str]]:
        """``(when, label)`` of the lockers staff emptied by a reset command that committed
        (each once); one still running is settled later."""
        emptied = []
        for run in self._recent:
            if run.settled or (run.end is None and not run.died):
                continue
            run.settled = True
            if run.action != "reset":
                continue
            # Done, or its commit step passed, or (killed, its end unknown) the force-open's
            # flag is gone: only the reset's commit clears it.
            done = run.result == CommandResult.DONE.value or "reset:committed" in run.steps
            if done or STAFF_OPENED not in (flags.get(run.label) or ""):
                emptied.append((run.begin, run.label))
        return emptied

    # -- checks against the database ---------------------------------------------------------

    def check(self, cycle: int, session: Session, now: float) -> None:
        """Read new and unfinished commands and new audit entries; check every command."""
        unfinished = [i for i, row in self.rows.items() if row.finished_at is None]
        floor = min(unfinished, default=max(self.rows, default=0) + 1)
        query = select(SiteCommand).where(SiteCommand.id >= floor).order_by(SiteCommand.id)
        for command in session.scalars(query):
            self.rows[command.id] = _row(command)
            self.first_seen.setdefault(command.id, now)
            self._dirty.add(command.id)
        for entry in inspection.audit_after(session, self._audit_last):
            self._audit_last = entry.id
            self._log(entry)
        dirty, self._dirty = sorted(self._dirty), set()
        for command_id in dirty:
            row = self.rows.get(command_id)
            if row is not None:
                self._check_one(cycle, row)
            elif command_id in self.executions:
                self._flag(cycle, command_id, "unsent", "was executed but never sent", None)

    def _log(self, entry: inspection.AuditRecord) -> None:
        reason = entry.reason or ""
        if entry.action.startswith("command_"):
            found = _COMMAND_ID.match(reason)
            if found:
                self._logged[entry.action][int(found.group(1))] += 1
                self._dirty.add(int(found.group(1)))
            return
        named = _NAMED_IN.search(reason)
        if entry.action in _EFFECTS and named:
            requested = entry.outcome == AuditOutcome.REQUESTED.value
            force_open = entry.action == AuditAction.FORCE_OPEN.value
            key = "force_open_intent" if force_open and requested else "effect"
            if key == "effect" and force_open:
                return  # the force-open's outcome entry: its intent is counted
            self._logged[key][int(named.group(1))] += 1
            self._dirty.add(int(named.group(1)))

    def _check_one(self, cycle: int, row: CommandRow) -> None:
        runs = self.executions.get(row.id, [])
        logged = {action: counts[row.id] for action, counts in self._logged.items()}
        expired = row.result == CommandResult.EXPIRED.value
        ran = logged.get(AuditAction.COMMAND_RUN.value, 0)
        if row.claimed_at is not None and row.claimed_at > row.expires_at:
            self._flag(
                cycle,
                row.id,
                "late",
                f"was claimed at {row.claimed_at:%H:%M:%S.%f}, past "
                f"its expiry {row.expires_at:%H:%M:%S.%f}",
                row,
            )
        if expired and (row.claimed_at is not None or runs or logged.get("effect")):
            self._flag(cycle, row.id, "ran", "expired, yet was claimed or executed", row)
        if expired and ran:
            self._flag(cycle, row.id, "both", "was both finished and expired", row)
        if len(runs) > 1 or ran > 1:
            self._flag(
                cycle,
                row.id,
                "twice",
                f"ran twice ({len(runs)} executions, {ran} command_run entries)",
                row,
            )
        if logged.get("force_open_intent", 0) > 1 or any(run.pulses > 1 for run in runs):
            self._flag(cycle, row.id, "pulses", "opened its locker twice", row)
        for run in runs:
            if run.result == CommandResult.JAMMED.value and run.released:
                took = run.steps.get("force_open:pulsed", run.begin) - run.steps.get(
                    "force_open:committed", run.begin
                )
                why = f"answered jammed, yet its latch released (the unlock took {took:.2f} s)"
                self._flag(cycle, row.id, "jam", why, row, "false_jams")
        seen = self.first_seen.get(row.id)
        for run in runs:
            if seen is not None and run.begin > seen + row.ttl_s + LATE_SLACK_S:
                late = run.begin - seen
                self._flag(
                    cycle,
                    row.id,
                    "stale",
                    f"began {late:.1f} s after the ledger saw it "
                    f"sent (time to live {row.ttl_s:g} s)",
                    row,
                )

    def _flag(
        self,
        cycle: int,
        command_id: int,
        kind: str,
        why: str,
        row: CommandRow | None,
        invariant: str = "stale_commands_run",
    ) -> None:
        if (kind, command_id) in self._flagged:
            return
        self._flagged.add((kind, command_id))
        what = "" if row is None else f" ({row.action} locker {row.label} for {row.kiosk_id})"
        self._violate(
            invariant,
            cycle,
            f"command {command_id}{what} {why}",
            label=None if row is None else row.label,
        )

    def check_end(self, cycle: int) -> None:
        """After the run: every command finished once, its result on record."""
        for row in self.rows.values():
            ran = self._logged[AuditAction.COMMAND_RUN.value][row.id]
            if row.finished_at is None or row.result is None:
                why = "claimed and never finished" if row.claimed_at else "never picked up"
            elif row.result in RAN and ran == 0:
                why = f"finished {row.result} without a command_run audit entry"
            else:
                continue
            self._violate(
                "lost_commands",
                cycle,
                f"command {row.id} ({row.action} locker {row.label} for {row.kiosk_id}) {why}",
                label=row.label,
            )

    def counts(self) -> dict[str, int]:
        results = Counter(row.result for row in self.rows.values())
        return {
            "commands_sent": len(self.rows),
            "commands_expired": results[CommandResult.EXPIRED.value],
            "commands_run": sum(results[r] for r in RAN),
            "commands_interrupted": results[CommandResult.INTERRUPTED.value],
            "commands_unfinished": results[None],
        }


def _row(command: SiteCommand) -> CommandRow:
    return CommandRow(
        command.id,
        command.kiosk_id,
        command.action.value,
        command.locker_label,
        command.created_at,
        command.expires_at,
        command.claimed_at,
        command.finished_at,
        command.result,
    )


def reset_committed(steps: Mapping[str, float], die_at: str | None, flag_after: str | None) -> bool:
    """Whether a staff reset (killed, or by a command whose end is unknown) committed, so staff
    emptied the locker and it may have been handed out again since.

    ``reset:committed`` proves it; death at the ``reset:ended`` checkpoint (inside the
    transaction) disproves it; a kill after ``reset:ended`` is settled by the locker's flag
    after the cycle: the force-open's flag is still there unless the reset committed.
    An interrupted reset leaves the belongings inside: staff come back to it (soak finding,
    issue 17: the renter's retrieve of a locker whose reset died before its commit was counted
    as opening an empty locker).
    """
    if "reset:committed" in steps:
        return True
    if "reset:ended" not in steps or die_at == "reset:ended":
        return False
    return STAFF_OPENED not in (flag_after or "")
