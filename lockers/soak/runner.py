"""The soak loop: set up, then cycles of (one op per kiosk, faults, restarts, checks).

A cycle: every kiosk gets one operation at once (customers, staff or housekeeping), board
faults and kills are injected while they run, a database fault sometimes strikes the whole
cycle; dead kiosks, and kiosks whose database failed, are restarted (the start-up check runs);
then the ledger replays the cycle and checks every invariant against the database.
"""

from __future__ import annotations

import contextlib
import random
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from lockers.config import load_settings
from lockers.errors import LockersError
from lockers.hardware.emulator.handlers import FIRST_ADDRESS
from lockers.kiosk.staff_service import StaffService
from lockers.kiosk.startup import connect, start_store
from lockers.soak.faults import BOARD_FAULTS, BoardFault, OwnPostgres, SmallDisk
from lockers.soak.kiosks import (
    InProcessKiosk,
    Kiosk,
    KioskDied,
    KioskStartFailed,
    LoggedEmulator,
    ProcessKiosk,
)
from lockers.soak.ledger import INVARIANTS, Ledger, OpRecord
from lockers.soak.mix import KILL_STEPS, OpMix
from lockers.soak.ops import Op, OpKind
from lockers.soak.options import SoakOptions
from lockers.soak.people import People
from lockers.soak.result import SoakResult, describe_options
from lockers.soak.worker import STAFF_NAME, STAFF_PIN
from lockers.store import inspection
from lockers.store.crypto import TemplateCipher
from lockers.store.db import Database
from lockers.store.schema import upgrade

REPO = Path(__file__).resolve().parents[2]
START_POSTGRES = REPO / "scripts" / "ci" / "start-postgres.sh"
OP_TIMEOUT_S = 60.0
REPLY_TIMEOUT_S = 0.15


ProgressCallback = Callable[[SoakResult], None]


class SoakRunner:
    """One soak run; use :func:`run_soak`."""

    def __init__(self, options: SoakOptions, on_cycle: ProgressCallback | None = None) -> None:
        problems = options.problems()
        if problems:
            raise LockersError("; ".join(problems), hint="see lockers soak --help")
        self.o = options
        self._on_cycle = on_cycle or (lambda _r: None)
        self.rng = random.Random(options.seed)
        self.people = People(options.seed)
        self.result = SoakResult(options=describe_options(options))
        self._cleanups: list[Callable[[], None]] = []
        self._sim_s = 0.0
        self._postgres: OwnPostgres | None = None
        self._disk: SmallDisk | None = None

    # -- set-up ----------------------------------------------------------------------------

    def _setup(self) -> None:
        o = self.o
        if o.work_dir is None:
            self.work = Path(tempfile.mkdtemp(prefix="lockers-soak-"))
            if not o.keep_work_dir:
                self._cleanups.append(lambda: shutil.rmtree(self.work, ignore_errors=True))
        else:
            self.work = o.work_dir
            self.work.mkdir(parents=True, exist_ok=True)
        url = self._database_url()
        first = FIRST_ADDRESS[o.protocol]
        self.lockers = [
            {"label": str(i), "size": "M", "board": first, "channel": i}
            for i in range(1, o.lockers + 1)
        ]
        self.configs = [self._write_config(i, url) for i in range(o.kiosks)]
        settings = load_settings(self.configs[0], env={})
        database = connect(settings)
        upgrade(database)
        database.dispose()
        store, _ = start_store(settings)
        StaffService(store.database, None).add_staff(STAFF_NAME, STAFF_PIN, "admin", "soak")
        store.close()
        self.settings = settings
        self.db = Database(settings.database_url, settings.database.busy_timeout_s)
        self._cleanups.append(self.db.dispose)
        self.cipher = TemplateCipher.from_file(settings.privacy.template_key_file, create=False)
        self.ledger = Ledger(settings.lockers, self.people)
        self.mix = OpMix(self.o, self.rng, self.ledger)
        self.emulators = []
        for i in range(o.kiosks):
            emulator = LoggedEmulator(i, o.protocol, o.lockers, self.work / f"tty-kiosk-{i}")
            emulator.start()
            self._cleanups.append(emulator.stop)
            self.emulators.append(emulator)
        self.kiosks: list[Kiosk] = []
        for i, config in enumerate(self.configs):
            kiosk: Kiosk
            if o.in_process:
                kiosk = InProcessKiosk(i, f"soak-{i}", config, o.seed, o.service_factory)
            else:
                kiosk = ProcessKiosk(i, f"soak-{i}", config, o.seed)
            self._cleanups.append(kiosk.stop)
            self.kiosks.append(kiosk)
            self._start(kiosk, count=False)

    def _database_url(self) -> str:
        o = self.o
        if o.backend == "postgresql":
            if o.database_url:
                self.result.skipped.append(
                    "postgres_restart: skipped, the database is not the harness's own server"
                )
                return o.database_url
            self._postgres = OwnPostgres(START_POSTGRES)
            self._cleanups.append(self._postgres.stop)
            return self._postgres.url
        self.result.skipped.append("postgres_restart: skipped on SQLite")
        why = SmallDisk.why_not() if o.db_fault_rate > 0 else "db_fault_rate is 0"
        folder = self.work
        if why is None:
            try:
                self._disk = SmallDisk(self.work / "disk", o.disk_mb)
                self._cleanups.append(self._disk.unmount)
                folder = self._disk.path
            except OSError as exc:
                why = f"cannot mount a tmpfs ({exc}): the full-disk fault is skipped"
        if why is not None:
            self.result.skipped.append(f"disk_full: {why}")
        return f"sqlite:///{folder / 'lockers.db'}"

    def _write_config(self, index: int, url: str) -> Path:
        o = self.o
        data = {
            "data_dir": str(self.work / f"kiosk-{index}"),
            "database": {"url": url, "busy_timeout_s": 30, "kiosk_id": f"soak-{index}"},
            "board": {
                "protocol": o.protocol,
                "port": str(self.work / f"tty-kiosk-{index}"),
                "pulse_ms": 50,
                "reply_timeout_s": REPLY_TIMEOUT_S,
                "quiet_s": 0.01,
                "inter_frame_gap_s": 0.002,
                "poll_interval_s": 0.03,
                "detection_window_s": 0.3,
                "unlock_expiry_s": 0.5,
                "reconnect_initial_s": 0.05,
                "reconnect_max_s": 0.2,
            },
            "lockers": self.lockers,
            # One key for every kiosk: they share the database and so each other's templates.
            "privacy": {
                "template_key_file": str(self.work / "template.key"),
                "rental_max_hours": o.rental_max_hours,
                "retention_hours": o.retention_hours,
            },
            "recognition": {"frames_to_agree": 2, "frames_window": 3},
        }
        path = self.work / f"kiosk-{index}.yaml"
        path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
        return path

    def _start(self, kiosk: Kiosk, count: bool = True) -> None:
        """(Re)start a kiosk, retrying while the database is down."""
        last, give_up = "", time.monotonic() + 90.0
        while time.monotonic() < give_up:
            try:
                summary = kiosk.start()
            except (KioskStartFailed, LockersError) as exc:
                last = str(exc)
                time.sleep(0.25)
                continue
            if count:
                self.result.restarts += 1
            self.result.startup_findings.update(summary.findings)
            return
        raise LockersError(f"kiosk {kiosk.kiosk_id} cannot start again: {last}")

    # -- choosing what happens ---------------------------------------------------------------

    def _snapshot(self) -> tuple[list[str], set[str], list[str]]:
        """Lockers a registration may get, lockers flagged for staff, out-of-service lockers."""
        with self.db.transaction() as session:
            rows = inspection.locker_states(session)
        free = [lk.label for lk in rows if lk.status == "available" and lk.attention is None]
        flagged = {lk.label for lk in rows if lk.attention is not None}
        oos = [lk.label for lk in rows if lk.status == "out_of_service"]
        return free, flagged, oos

    # -- one cycle -------------------------------------------------------------------------

    def _cycle(self) -> None:
        o, rng, result = self.o, self.rng, self.result
        result.cycles += 1
        self._sim_s += o.sim_minutes_per_cycle * 60.0
        free, flagged, oos = self._snapshot()
        busy: set[object] = set()
        records: list[OpRecord] = []
        faults: list[BoardFault] = []
        db_fault = self._maybe_db_fault()
        for kiosk in self.kiosks:
            planned = self.mix.choose(
                kiosk.index, result.cycles, self._sim_s, free, flagged, oos, busy
            )
            if kiosk.killable and planned.kind in KILL_STEPS and rng.random() < o.sigkill_rate / 2:
                planned = _with(planned, die_at=rng.choice(KILL_STEPS[planned.kind]))
            records.append(OpRecord(kiosk.index, kiosk.kiosk_id, planned, time.monotonic()))
            if rng.random() < o.board_fault_rate:
                fault = BoardFault(
                    self.emulators[kiosk.index].emulator,
                    rng.choice(BOARD_FAULTS),
                    rng,
                    target=self.mix.fault_target(planned, free),
                    reply_timeout_s=REPLY_TIMEOUT_S,
                )
                fault.apply()
                faults.append(fault)
                result.faults[f"board_{fault.kind}"] += 1
                records[-1].fault = fault.kind
            kiosk.submit(planned)
        killed: set[int] = set()
        killable = [k for k in self.kiosks if k.killable]
        if killable and rng.random() < min(1.0, o.sigkill_rate / 2 * len(killable)):
            victim = rng.choice(killable)
            time.sleep(rng.uniform(0.0, 0.25))
            victim.kill()
            killed.add(victim.index)
            result.faults["sigkill_random"] += 1
        for kiosk, record in zip(self.kiosks, records, strict=True):
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
                    result.faults["sigkill_at_step"] += 1
        for fault in faults:
            fault.clear()
        if db_fault is not None:
            db_fault()
        time.sleep(0.06)  # past every dead op's window before anything restarts
        for kiosk, record in zip(self.kiosks, records, strict=True):
            report = record.report
            if report is not None:
                result.ops[f"{record.op.kind.value}:{report.outcome}"] += 1
                result.board_alerts.update(report.board_events)
            else:
                result.ops[f"{record.op.kind.value}:killed"] += 1
            failed = report is not None and report.error_kind == "StoreError"
            if kiosk.index in killed or failed:
                self._start(kiosk)
            if report is not None and (record.op.kind, report.outcome) == (
                OpKind.REGISTER,
                "opened",
            ):
                result.registrations[kiosk.kiosk_id] = (
                    result.registrations.get(kiosk.kiosk_id, 0) + 1
                )
        pulses = [p for emulator in self.emulators for p in emulator.take_pulses()]
        self.ledger.apply(result.cycles, records, pulses)
        uncertain = [r for r in records if not r.completed]
        with self.db.transaction() as session:
            self.ledger.check_store(
                result.cycles,
                session,
                self.cipher,
                records,
                full_audit=result.cycles % 200 == 0,
            )
            if uncertain:
                suspects = [r.op.person for r in uncertain if r.op.person is not None]
                self.ledger.reconcile(session, self.cipher, suspects)
        self._tally()

    def _maybe_db_fault(self) -> Callable[[], None] | None:
        """Start a database fault in the background; returns what ends it."""
        if self.rng.random() >= self.o.db_fault_rate:
            return None
        delay = self.rng.uniform(0.0, 0.04)  # before or while the cycle's ops run
        if self._postgres is not None:
            postgres = self._postgres
            thread = threading.Thread(target=lambda: (time.sleep(delay), postgres.restart()))
            thread.start()
            self.result.faults["postgres_restart"] += 1
            return thread.join
        if self._disk is not None:
            disk = self._disk
            db = self.db

            def fill() -> None:
                time.sleep(delay)
                # Without this the next commits reuse the log's old pages and never notice.
                with contextlib.suppress(LockersError, OSError, Exception):
                    inspection.truncate_sqlite_wal(db)
                disk.fill()

            thread = threading.Thread(target=fill)
            thread.start()
            self.result.faults["disk_full"] += 1

            def free() -> None:
                thread.join()
                disk.free()

            return free
        return None

    def _registered_enough(self) -> bool:
        wanted, counts = self.o.registrations, self.result.registrations
        return (
            wanted is not None and len(counts) == self.o.kiosks and min(counts.values()) >= wanted
        )

    def _faulted_enough(self) -> bool:
        kills, board = self.o.target_sigkills, self.o.target_board_faults
        if kills is None and board is None:
            return False
        return self.result.sigkills >= (kills or 0) and self.result.board_faults >= (board or 0)

    def _tally(self) -> None:
        self.result.violations = {name: self.ledger.counts[name] for name in INVARIANTS}
        self.result.examples = [
            f"cycle {v.cycle} {v.invariant}: {v.detail}" for v in self.ledger.violations[:20]
        ]

    # -- the run ---------------------------------------------------------------------------

    def run(self) -> SoakResult:
        o = self.o
        started = time.monotonic()
        try:
            self._setup()
            while True:
                if self.result.cycles >= o.max_cycles:
                    self.result.stopped_because = f"{o.max_cycles} cycles"
                    break
                if time.monotonic() - started >= o.max_seconds:
                    self.result.stopped_because = f"{o.max_seconds:g} s"
                    break
                if self._registered_enough():
                    self.result.stopped_because = f"{o.registrations} registrations per kiosk"
                    break
                if self._faulted_enough():
                    self.result.stopped_because = (
                        f"{o.target_sigkills} SIGKILLs and {o.target_board_faults} board faults"
                    )
                    break
                self._cycle()
                self.result.elapsed_s = time.monotonic() - started
                self._on_cycle(self.result)
            for kiosk in self.kiosks:
                kiosk.stop()
            with self.db.transaction() as session:
                self.ledger.check_store(self.result.cycles, session, self.cipher, [])
                self.ledger.verify_audit(self.result.cycles, session)
            self._tally()
        finally:
            for cleanup in reversed(self._cleanups):
                with contextlib.suppress(Exception):
                    cleanup()
        self.result.elapsed_s = time.monotonic() - started
        return self.result


def run_soak(options: SoakOptions, on_cycle: ProgressCallback | None = None) -> SoakResult:
    """Run one soak (see :class:`SoakOptions`); returns its figures.

    Raises:
        LockersError: bad options, or the set-up failed (database, PostgreSQL, emulator).
    """
    return SoakRunner(options, on_cycle).run()


def _with(op: Op, **changes: Any) -> Op:
    from dataclasses import replace

    return replace(op, **changes)
