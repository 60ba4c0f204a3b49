"""The soak loop: set up, then cycles of (one op per kiosk, faults, restarts, checks).

A cycle: every kiosk gets one operation at once (customers, staff or housekeeping), board
faults and kills are injected while they run, a database fault sometimes strikes the whole
cycle; dead kiosks, and kiosks whose database failed, are restarted (the start-up check runs);
then the ledger replays the cycle and checks every invariant against the database. Each op goes
into the run's :class:`~lockers.soak.history.History`, and each violation carries the entries
about its locker and its person.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from lockers.backoff import Backoff, BackoffTimer
from lockers.errors import LockersError
from lockers.soak.faults import BoardFault
from lockers.soak.history import History, describe_record
from lockers.soak.kiosks import Kiosk, KioskDied, KioskStartFailed
from lockers.soak.ledger import INVARIANTS, Ledger, OpRecord
from lockers.soak.mix import LockerView, OpMix
from lockers.soak.options import SoakOptions
from lockers.soak.people import People
from lockers.soak.plan import CyclePlan, plan_cycle, stream
from lockers.soak.result import SoakResult, describe_options
from lockers.soak.site import REPLY_TIMEOUT_S, SoakSite
from lockers.store import inspection
from lockers.store.crypto import TemplateCipher
from lockers.store.db import Database

OP_TIMEOUT_S = 60.0
RANDOM_KILL_WINDOW_S = 0.04  # a random kill lands this long after the op's first step, at most
RESTART_BACKOFF = Backoff(base_s=0.05, max_s=1.0)  # while the database is down or full
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

    def _setup(self) -> None:
        settings = self.site.build()
        self.db = Database(settings.database_url, settings.database.busy_timeout_s)
        self.site.on_close(self.db.dispose)
        self.cipher = TemplateCipher.from_file(settings.privacy.template_key_file, create=False)
        self.ledger = Ledger(self.site.site_lockers, self.people, self.site.bank_of)
        self.mix = OpMix(self.o, self.ledger)
        for kiosk in self.site.kiosks:
            self._start(kiosk, count=False)

    def _start(self, kiosk: Kiosk, count: bool = True) -> list[dict[str, Any]]:
        """(Re)start a kiosk, retrying while the database is down; returns the start-up
        check's findings."""
        last, give_up = "", time.monotonic() + 90.0
        retry = BackoffTimer(RESTART_BACKOFF)
        while time.monotonic() < give_up:
            try:
                summary = kiosk.start()
            except (KioskStartFailed, LockersError) as exc:
                last = str(exc)
                time.sleep(retry.next_delay())  # the database is down or full: try again soon
                continue
            if count:
                self.result.restarts += 1
            self.result.startup_findings.update(summary.findings)
            return [{"locker": label, "finding": detail} for label, detail in summary.details]
        raise LockersError(f"kiosk {kiosk.kiosk_id} cannot start again: {last}")

    def _lockers(self) -> LockerView:
        with self.db.transaction() as session:
            rows = inspection.locker_states(session)
        return LockerView(
            free=[lk.label for lk in rows if lk.status == "available" and lk.attention is None],
            flagged={lk.label for lk in rows if lk.attention is not None},
            out_of_service=[lk.label for lk in rows if lk.status == "out_of_service"],
        )

    # -- one cycle -------------------------------------------------------------------------

    def _cycle(self) -> None:
        o, result = self.o, self.result
        result.cycles += 1
        self._sim_s += o.sim_minutes_per_cycle * 60.0
        plan = plan_cycle(
            o.seed,
            result.cycles,
            len(self.site.kiosks),
            killable=any(k.killable for k in self.site.kiosks),
            sigkill_rate=o.sigkill_rate,
            board_fault_rate=o.board_fault_rate,
            db_fault_rate=o.db_fault_rate,
        )
        self._faults.update(repr(plan.describe()).encode())
        records, faults = self._plan_ops(plan, self._lockers())
        end_db_fault = self._start_db_fault(plan)
        killed = self._run_ops(plan, records)
        for fault in faults:
            fault.clear()
        if end_db_fault is not None:
            end_db_fault()
        time.sleep(0.06)  # past every dead op's window before anything restarts
        pulses = [p for emulator in self.site.emulators for p in emulator.take_pulses()]
        entries = [describe_record(result.cycles, r, pulses, self.ledger.labels) for r in records]
        for entry, record in zip(entries, records, strict=True):
            if plan.db_fault and end_db_fault is not None:
                entry["db_fault"] = "postgres_restart" if self.site.postgres else "disk_full"
            if record.kiosk == plan.random_kill:
                entry["killed_at_random"] = True
        self._settle(records, killed, entries)
        self._check(records, pulses, entries)

    def _plan_ops(
        self, plan: CyclePlan, lockers: LockerView
    ) -> tuple[list[OpRecord], list[BoardFault]]:
        """Choose every kiosk's op, arm its board fault and send it."""
        busy: set[object] = set()
        records: list[OpRecord] = []
        faults: list[BoardFault] = []
        for kiosk, kiosk_faults in zip(self.site.kiosks, plan.kiosks, strict=True):
            rng = stream(self.o.seed, plan.cycle, kiosk.index, "ops")
            planned = self.mix.choose(rng, kiosk.index, plan.cycle, self._sim_s, lockers, busy)
            planned = replace(planned, die_at=kiosk_faults.die_at(planned.kind))
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
        if plan.random_kill is not None:
            victim = self.site.kiosks[plan.random_kill]
            victim.kill_during_op(plan.random_kill_pick * RANDOM_KILL_WINDOW_S, OP_TIMEOUT_S)
            killed.add(plan.random_kill)
        for kiosk, record in zip(self.site.kiosks, records, strict=True):
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
                elif kiosk.index == plan.random_kill:
                    self.result.faults["sigkill_random"] += 1  # it landed during the op
            else:
                if kiosk.index == plan.random_kill:
                    self.result.faults["sigkill_between_ops"] += 1  # it answered first
        return killed

    def _settle(
        self, records: list[OpRecord], killed: set[int], entries: list[dict[str, Any]]
    ) -> None:
        """Tally the answers; restart the kiosks that died or whose database failed."""
        result = self.result
        for kiosk, record, entry in zip(self.site.kiosks, records, entries, strict=True):
            report = record.report
            if report is not None:
                result.ops[f"{record.op.kind.value}:{report.outcome}"] += 1
                result.board_alerts.update(report.board_events)
            else:
                result.ops[f"{record.op.kind.value}:killed"] += 1
            failed = report is not None and report.error_kind == "StoreError"
            if kiosk.index in killed or failed:
                entry["restarted"] = True
                findings = self._start(kiosk)
                if findings:
                    entry["startup_findings"] = findings
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
        self.ledger.apply(cycle, records, pulses, flags)
        uncertain = [r for r in records if not r.completed]
        with self.db.transaction() as session:
            self.ledger.check_store(
                cycle, session, self.cipher, records, full_audit=cycle % 200 == 0
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

    def run(self) -> SoakResult:
        started = time.monotonic()
        try:
            self._setup()
            while (reason := self._stop_reason(started)) is None:
                self._cycle()
                self.result.elapsed_s = time.monotonic() - started
                self._on_cycle(self.result)
            self.result.stopped_because = reason
            for kiosk in self.site.kiosks:
                kiosk.stop()
            before = len(self.ledger.violations)
            with self.db.transaction() as session:
                self.ledger.check_store(self.result.cycles, session, self.cipher, [])
                self.ledger.verify_audit(self.result.cycles, session)
            self._attach_history(before)
            self._tally()
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
