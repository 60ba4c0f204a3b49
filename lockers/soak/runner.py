"""The soak loop: set up, then cycles of (one op per kiosk, faults, restarts, checks).

A cycle: every kiosk that is up gets one operation at once (customers, staff or housekeeping;
staff acting on another bank send the owning kiosk a site command, which its site agent runs
on a thread of its own), board faults and kills are injected while they run, a database fault
sometimes strikes the whole cycle; dead kiosks, and kiosks whose database failed, are down
until the site's registry frees their id, and are then restarted (the start-up check runs); a
kiosk is now and then kept offline past the commands' time to live; then the ledger replays
the cycle and checks every invariant against the database. Each op goes into the run's
:class:`~lockers.soak.history.History`, and each violation carries the entries about its
locker and its person.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import replace
from typing import Any

from sqlalchemy import func, select

from lockers.errors import LockersError
from lockers.soak.faults import BoardFault
from lockers.soak.history import History, describe_record
from lockers.soak.kiosks import Kiosk, KioskDied
from lockers.soak.ledger import INVARIANTS, Ledger, OpRecord
from lockers.soak.mix import LockerView, OpMix
from lockers.soak.options import SoakOptions
from lockers.soak.people import People
from lockers.soak.plan import CyclePlan, plan_cycle, stream
from lockers.soak.restarts import Restarts
from lockers.soak.result import SoakResult, describe_options
from lockers.soak.site import REPLY_TIMEOUT_S, SoakSite
from lockers.store import inspection
from lockers.store.crypto import TemplateCipher
from lockers.store.db import Database
from lockers.store.models import SiteCommand

OP_TIMEOUT_S = 60.0
RANDOM_KILL_WINDOW_S = 0.04  # a random kill lands this long after the op's first step, at most
SETTLE_MARGIN_S = 5.0  # at the end, past the commands' time to live: every one must be over
EXAMPLES = 20  # violations shown in full (with their history) in the figures

ProgressCallback = Callable[[SoakResult], None]


class SoakRunner:
    """One soak run; use :func:`run_soak`."""

    def __init__(self, options: SoakOptions, on_cycle: ProgressCallback | None = None) -> None:
        problems = options.problems()
        if problems:
            raise LockersError("; ".join(problems), hint="see lockers soak --help")
        self.o = options
        self._on_cycle = on_cycle or (lambda _r: None)
        self.people = People(options.seed)
        self.result = SoakResult(options=describe_options(options))
        self.site = SoakSite(options, self.result.skipped)
        self.history = History()
        self._sim_s = 0.0
        self._choices = hashlib.sha256()
        self._faults = hashlib.sha256()
        self._victim: int | None = None  # the cycle's random kill (the plan's, or the next up)

    def _setup(self) -> None:
        settings = self.site.build()
        self.db = Database(settings.database_url, settings.database.busy_timeout_s)
        self.site.on_close(self.db.dispose)
        self.cipher = TemplateCipher.from_file(settings.privacy.template_key_file, create=False)
        self.ledger = Ledger(self.site.site_lockers, self.people, self.site.bank_of)
        self.mix = OpMix(self.o, self.ledger)
        self.restarts = Restarts(self.db, self.site.kiosks, self.result)
        for kiosk in self.site.kiosks:
            self.restarts.start(kiosk, 0.0, count=False)

    def _bring_back(self) -> None:
        """Restart the kiosks that are due; each restart is an entry of the history."""
        self.restarts.wait_for_one(len(self.site.kiosks))
        for kiosk, findings in self.restarts.bring_back(self._sim_s):
            entry: dict[str, Any] = {"cycle": self.result.cycles, "kiosk": kiosk.kiosk_id}
            entry.update(op=0, kind="restart", person=None, label=None, restarted=True)
            if findings:
                entry["startup_findings"] = findings
            self.history.add(entry)

    def _gone(self, kiosk: Kiosk) -> None:
        """``kiosk``'s process ended: the ledger takes the last of its agent's events."""
        self.ledger.commands.take(kiosk.index, kiosk.kiosk_id, kiosk.take_command_events())
        self.ledger.commands.kiosk_died(kiosk.index)

    def _drain(self, skip: Collection[int] = ()) -> set[int]:
        """Read what every running kiosk's site agent did, into the ledger; returns the
        kiosks found dead (a kill at a command's step lands between ops)."""
        died = set()
        for kiosk in self.site.kiosks:
            if self.restarts.is_down(kiosk.index) or kiosk.index in skip:
                continue
            alive = kiosk.drain()
            self.ledger.commands.take(kiosk.index, kiosk.kiosk_id, kiosk.take_command_events())
            if not alive:
                self.ledger.commands.kiosk_died(kiosk.index)
                self.restarts.take_down(kiosk.index)
                died.add(kiosk.index)
        return died

    # -- one cycle -------------------------------------------------------------------------

    def _cycle(self) -> None:
        o, result = self.o, self.result
        result.cycles += 1
        self._sim_s += o.sim_minutes_per_cycle * 60.0
        self._bring_back()
        plan = plan_cycle(
            o.seed,
            result.cycles,
            len(self.site.kiosks),
            killable=any(k.killable for k in self.site.kiosks),
            sigkill_rate=o.sigkill_rate,
            board_fault_rate=o.board_fault_rate,
            db_fault_rate=o.db_fault_rate,
            outage_rate=o.outage_rate,
        )
        self._faults.update(repr(plan.describe()).encode())
        with self.db.transaction() as session:
            lockers = LockerView.of(inspection.locker_states(session))
        records, faults = self._plan_ops(plan, lockers)
        end_db_fault = self._start_db_fault(plan)
        killed = self._run_ops(plan, records)
        for fault in faults:
            fault.clear()
        if end_db_fault is not None:
            end_db_fault()
        time.sleep(0.06)  # past every dead op's window before anything restarts
        pulses = [p for emulator in self.site.emulators for p in emulator.take_pulses()]
        # After the pulses: every command step that led to one of them is in the pipes now.
        for index in killed:
            self._gone(self.site.kiosks[index])
        self.result.faults["sigkill_command_between_ops"] += len(self._drain(killed))
        entries = [describe_record(result.cycles, r, pulses, self.ledger.labels) for r in records]
        for entry, record in zip(entries, records, strict=True):
            if plan.db_fault and end_db_fault is not None:
                entry["db_fault"] = "postgres_restart" if self.site.postgres else "disk_full"
            if record.kiosk == self._victim:
                entry["killed_at_random"] = True
        self._settle(records, killed, entries)
        self._keep_offline(plan)
        self._check(records, pulses, entries)

    def _up_from(self, planned: int | None, up: Sequence[int]) -> int | None:
        """The planned victim, or the next kiosk of ``up`` after it (a killed one is down)."""
        if planned is None or not up:
            return None
        return min(up, key=lambda i: (i - planned) % len(self.site.kiosks))

    def _keep_offline(self, plan: CyclePlan) -> None:
        """The plan's outage: stop (or SIGKILL) a kiosk and keep it offline past the TTL."""
        up = [i for i in range(len(self.site.kiosks)) if not self.restarts.is_down(i)]
        victim = self._up_from(plan.outage, up)
        if victim is None or len(up) < 2:
            return
        kiosk = self.site.kiosks[victim]
        if plan.outage_kill:
            kiosk.kill()
        kiosk.stop()  # a clean stop signs off (offline at once); a killed one is reaped
        self._gone(kiosk)
        self.restarts.take_down(kiosk.index, self.o.outage_s)
        self.result.faults["outage_killed" if plan.outage_kill else "outage_stopped"] += 1

    def _plan_ops(
        self, plan: CyclePlan, lockers: LockerView
    ) -> tuple[list[OpRecord], list[BoardFault]]:
        """Choose every kiosk's op, arm its board fault and send it."""
        # Lockers with a command on its way: no other staff or customer op this cycle.
        busy: set[object] = {
            row.label for row in self.ledger.commands.rows.values() if row.finished_at is None
        }
        records: list[OpRecord] = []
        faults: list[BoardFault] = []
        for kiosk, kiosk_faults in zip(self.site.kiosks, plan.kiosks, strict=True):
            if self.restarts.is_down(kiosk.index):
                continue
            rng = stream(self.o.seed, plan.cycle, kiosk.index, "ops")
            planned = self.mix.choose(rng, kiosk.index, plan.cycle, self._sim_s, lockers, busy)
            planned = replace(
                planned,
                die_at=kiosk_faults.die_at(planned.kind),
                die_at_command=plan.command_kills[kiosk.index] if plan.command_kills else None,
            )
            record = OpRecord(kiosk.index, kiosk.kiosk_id, planned, time.monotonic())
            self._choices.update(repr((plan.cycle, planned)).encode())
            if kiosk_faults.board_fault is not None:
                fault = BoardFault(
                    self.site.emulators[kiosk.index].emulator,
                    kiosk_faults.board_fault,
                    stream(self.o.seed, plan.cycle, kiosk.index, kiosk_faults.board_seed),
                    target=self.mix.fault_target(rng, planned, lockers.free),
                    reply_timeout_s=REPLY_TIMEOUT_S,
                )
                fault.apply()
                faults.append(fault)
                self.result.faults[f"board_{fault.kind}"] += 1
                record.fault = fault.kind
            records.append(record)
            kiosk.submit(planned)
        return records, faults

    def _start_db_fault(self, plan: CyclePlan) -> Callable[[], None] | None:
        if not plan.db_fault:
            return None
        end = self.site.start_db_fault(plan.db_fault_delay_s, self.db)
        if end is not None:
            self.result.faults["postgres_restart" if self.site.postgres else "disk_full"] += 1
        return end

    def _run_ops(self, plan: CyclePlan, records: list[OpRecord]) -> set[int]:
        """Kill the cycle's random victim (if any) while the ops run, then collect every
        answer; returns the kiosks that died."""
        killed: set[int] = set()
        random_kill = self._up_from(plan.random_kill, [r.kiosk for r in records])
        self._victim = random_kill
        if random_kill is not None:
            victim = self.site.kiosks[random_kill]
            victim.kill_during_op(plan.random_kill_pick * RANDOM_KILL_WINDOW_S, OP_TIMEOUT_S)
            killed.add(random_kill)
        for record in records:
            kiosk = self.site.kiosks[record.kiosk]
            try:
                record.report = kiosk.collect(OP_TIMEOUT_S)
                record.steps = record.report.steps
                record.finished = time.monotonic()
            except KioskDied:
                record.steps = kiosk.steps_seen()
                # Bytes the process wrote just before it died still reach the emulator.
                record.finished = time.monotonic() + 0.05
                killed.add(kiosk.index)
                if record.op.die_at is not None and record.op.die_at in record.steps:
                    self.result.faults["sigkill_at_step"] += 1
                elif kiosk.index == random_kill:
                    self.result.faults["sigkill_random"] += 1  # it landed during the op
                else:  # its site agent died at a command's step while the op ran
                    self.result.faults["sigkill_command_during_op"] += 1
            else:
                if kiosk.index == random_kill:
                    self.result.faults["sigkill_between_ops"] += 1  # it answered first
        return killed

    def _settle(
        self, records: list[OpRecord], killed: set[int], entries: list[dict[str, Any]]
    ) -> None:
        """Tally the answers; take down the kiosks that died or whose database failed (they
        come back once the registry frees their id)."""
        result = self.result
        for record, entry in zip(records, entries, strict=True):
            kiosk = self.site.kiosks[record.kiosk]
            report = record.report
            if report is not None:
                result.ops[f"{record.op.kind.value}:{report.outcome}"] += 1
                result.board_alerts.update(report.board_events)
            else:
                result.ops[f"{record.op.kind.value}:killed"] += 1
            failed = report is not None and report.error_kind == "StoreError"
            if failed and kiosk.index not in killed:
                kiosk.stop()  # signs off when the database lets it
                self._gone(kiosk)
            if kiosk.index in killed or failed:
                entry["taken_down"] = True
                self.restarts.take_down(kiosk.index)
            if report is not None and (record.op.kind.value, report.outcome) == (
                "register",
                "opened",
            ):
                result.registrations[kiosk.kiosk_id] = (
                    result.registrations.get(kiosk.kiosk_id, 0) + 1
                )

    def _check(
        self, records: list[OpRecord], pulses: list[Any], entries: list[dict[str, Any]]
    ) -> None:
        """Replay the cycle in the ledger, check the database, file the history."""
        cycle, before = self.result.cycles, len(self.ledger.violations)
        with self.db.transaction() as session:
            flags = {s.label: s.attention for s in inspection.locker_states(session)}
        self._drain()
        self.ledger.apply(cycle, records, pulses, flags)
        uncertain = [r for r in records if not r.completed]
        with self.db.transaction() as session:
            self.ledger.check_store(
                cycle,
                session,
                self.cipher,
                records,
                full_audit=cycle % 200 == 0,
                drain=self._drain,
                down={self.site.kiosks[i].kiosk_id for i in self.restarts.down},
            )
            if uncertain:
                suspects = [r.op.person for r in uncertain if r.op.person is not None]
                self.ledger.reconcile(session, self.cipher, suspects)
            states = inspection.locker_states(session)
        self.history.note_states(entries, states)
        for entry in entries:
            self.history.add(entry)
        self._attach_history(before)
        self._tally()

    def _attach_history(self, since: int) -> None:
        for violation in self.ledger.violations[since:EXAMPLES]:
            violation.history = self.history.about(violation.label, violation.person)

    def _tally(self) -> None:
        self.result.violations = {name: self.ledger.counts[name] for name in INVARIANTS}
        self.result.commands = self.ledger.commands.counts()
        shown = self.ledger.violations[:EXAMPLES]
        self.result.examples = [f"cycle {v.cycle} {v.invariant}: {v.detail}" for v in shown]
        self.result.violation_details = [v.to_dict() for v in shown]
        self.result.choice_digest = self._choices.hexdigest()[:16]
        self.result.fault_digest = self._faults.hexdigest()[:16]

    # -- the run ---------------------------------------------------------------------------

    def _stop_reason(self, started: float) -> str | None:
        o, result = self.o, self.result
        if result.cycles >= o.max_cycles:
            return f"{o.max_cycles} cycles"
        if time.monotonic() - started >= o.max_seconds:
            return f"{o.max_seconds:g} s"
        counts = result.registrations
        if (
            o.registrations is not None
            and len(counts) == o.kiosks
            and min(counts.values()) >= o.registrations
        ):
            return f"{o.registrations} registrations per kiosk"
        kills, board = o.target_sigkills, o.target_board_faults
        if (kills is not None or board is not None) and (
            result.sigkills >= (kills or 0) and result.board_faults >= (board or 0)
        ):
            return f"{kills} SIGKILLs and {board} board faults"
        return None

    def _settle_commands(self) -> None:
        """Bring every kiosk back; their agents finish or expire every command."""
        deadline = time.monotonic() + self.o.outage_s + self.o.command_ttl_s + SETTLE_MARGIN_S
        while time.monotonic() < deadline:
            self._bring_back()
            self._drain()
            with self.db.transaction() as session:
                left = session.scalar(
                    select(func.count())
                    .select_from(SiteCommand)
                    .where(SiteCommand.finished_at.is_(None))
                )
            if not left and not self.restarts.down:
                return
            time.sleep(0.2)

    def _final_checks(self) -> None:
        """Every kiosk back, every command over, every kiosk stopped: the last checks (a lock
        fired meanwhile must be a command's)."""
        self._settle_commands()
        for kiosk in self.site.kiosks:
            kiosk.stop()
            self._gone(kiosk)
        cycle, before = self.result.cycles, len(self.ledger.violations)
        pulses = [p for emulator in self.site.emulators for p in emulator.take_pulses()]
        with self.db.transaction() as session:
            flags = {s.label: s.attention for s in inspection.locker_states(session)}
        self.ledger.apply(cycle, [], pulses, flags)
        with self.db.transaction() as session:
            self.ledger.check_store(cycle, session, self.cipher, [])
            self.ledger.verify_audit(cycle, session)
        self.ledger.commands.check_end(cycle)
        self._attach_history(before)
        self._tally()

    def run(self) -> SoakResult:
        started = time.monotonic()
        try:
            self._setup()
            while (reason := self._stop_reason(started)) is None:
                self._cycle()
                self.result.elapsed_s = time.monotonic() - started
                self._on_cycle(self.result)
            self.result.stopped_because = reason
            self._final_checks()
        finally:
            self.site.close()
        self.result.elapsed_s = time.monotonic() - started
        return self.result


def run_soak(options: SoakOptions, on_cycle: ProgressCallback | None = None) -> SoakResult:
    """Run one soak (see :class:`SoakOptions`); returns its figures.

    Raises:
        LockersError: bad options, or the set-up failed (database, PostgreSQL, emulator).
    """
    return SoakRunner(options, on_cycle).run()
