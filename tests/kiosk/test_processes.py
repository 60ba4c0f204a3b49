"""Real processes: concurrent registrations never share a locker, and SIGKILL at any step of
register/retrieve/reset leaves a consistent database that the start-up check explains."""

from __future__ import annotations

import multiprocessing as mp
import os
import random
import signal
import time
from pathlib import Path

import pytest
from lockers_storekit import MODEL, ScriptedBoard, face, write_config

from lockers.config import Settings, load_settings
from lockers.kiosk.dto import RegisterOutcome
from lockers.kiosk.rental_service import RentalService
from lockers.kiosk.staff_service import StaffService
from lockers.kiosk.startup import start_store
from lockers.store import audit, consistency, lockers_repo
from lockers.store.db import Database

FORK = mp.get_context("fork")
EIGHT = [{"label": str(i), "size": "M", "board": 0, "channel": i} for i in range(1, 9)]


def _kiosk(settings: Settings, checkpoint: object = None) -> tuple[Database, RentalService]:
    store, _ = start_store(settings, repair=False)
    extra = {} if checkpoint is None else {"checkpoint": checkpoint}
    return store.database, RentalService.from_settings(
        settings, store.database, ScriptedBoard(), store.cipher, **extra
    )


def _register_many(config: Path, seeds: list[int], barrier: object, results: object) -> None:
    settings = load_settings(config)
    database, kiosk = _kiosk(settings)
    barrier.wait()  # type: ignore[attr-defined]
    for seed in seeds:
        result = kiosk.register(face(seed), consent=True, model_version=MODEL)
        results.put((seed, result.outcome.value, result.locker_label))  # type: ignore[attr-defined]
    database.dispose()


def test_concurrent_processes_never_share_a_locker(
    db_url: str, database: Database, tmp_path: Path
) -> None:
    config = write_config(tmp_path, db_url, EIGHT)
    store, _ = start_store(load_settings(config))  # migrate + sync once
    store.close()
    database.dispose()  # children must not inherit open connections
    workers, per_worker = 5, 2  # 10 people, 8 lockers
    barrier, results = FORK.Barrier(workers), FORK.Queue()
    procs = [
        FORK.Process(
            target=_register_many,
            args=(config, [100 + w * per_worker + i for i in range(per_worker)], barrier, results),
        )
        for w in range(workers)
    ]
    for p in procs:
        p.start()
    got = [results.get(timeout=60) for _ in range(workers * per_worker)]
    for p in procs:
        p.join(timeout=30)
        assert p.exitcode == 0
    labels = [label for _, outcome, label in got if outcome == RegisterOutcome.OPENED.value]
    assert sorted(labels, key=int) == [str(i) for i in range(1, 9)]
    assert sum(outcome == RegisterOutcome.NO_FREE_LOCKER.value for _, outcome, _ in got) == 2
    with database.transaction() as session:
        assert consistency.invariant_violations(session) == []


class _Die:
    """A checkpoint that SIGKILLs the process at one named step."""

    def __init__(self, step: str) -> None:
        self.step = step

    def __call__(self, step: str) -> None:
        if step == self.step:
            os.kill(os.getpid(), signal.SIGKILL)


def _run_until_killed(config: Path, step: str) -> None:
    settings = load_settings(config)
    die = _Die(step)
    database, kiosk = _kiosk(settings, die)
    verb = step.split(":")[0]
    if verb == "register":
        kiosk.register(face(7), consent=True, model_version=MODEL)
    elif verb == "retrieve":
        kiosk.retrieve(face(1), model_version=MODEL)
    else:
        staff = StaffService(database, ScriptedBoard(), checkpoint=die)
        who = staff.login("bob", "246810")
        if verb == "reset":
            staff.reset(who, "1", "crash test")
        else:
            staff.force_open(who, "1", "crash test")
    os._exit(3)  # the step was never reached: the test is wrong


STEPS = [
    "register:claimed",
    "register:templates_added",
    "register:committed",
    "register:pulsed",
    "retrieve:committed",
    "retrieve:pulsed",
    "retrieve:ended",
    "reset:ended",
    "reset:committed",
    "force_open:committed",
]


@pytest.mark.parametrize("step", STEPS)
def test_sigkill_at_every_step_leaves_a_consistent_database(
    db_url: str, database: Database, tmp_path: Path, step: str
) -> None:
    config = write_config(tmp_path, db_url)
    settings = load_settings(config)
    store, _ = start_store(settings)
    RentalService.from_settings(settings, store.database, ScriptedBoard(), store.cipher).register(
        face(1), consent=True, model_version=MODEL
    )  # locker 1 holds face 1
    StaffService(store.database, None).add_staff("bob", "246810")
    store.close()
    database.dispose()

    proc = FORK.Process(target=_run_until_killed, args=(config, step))
    proc.start()
    proc.join(timeout=60)
    assert proc.exitcode == -signal.SIGKILL, f"not killed at {step} (exit {proc.exitcode})"

    try:
        with database.transaction() as session:
            assert consistency.invariant_violations(session) == []
        # The start-up check reports an unlock whose answer was lost, and flags the locker.
        store, report = start_store(settings)
        store.close()
        kinds = {f.kind for f in report.findings}
        before_intent = step in ("register:claimed", "register:templates_added")
        if not before_intent and not step.startswith("reset"):
            assert kinds == {"interrupted_unlock"}
            with database.transaction() as session:
                flagged = [lk for lk in lockers_repo.list_lockers(session) if lk.attention]
            assert flagged and "interrupted" in (flagged[0].attention or "")
        else:
            assert kinds == set()
        store, again = start_store(settings)
        store.close()
        assert again.clean  # repairs stick
    finally:
        database.dispose()


def _work_forever(config: Path, first_seed: int) -> None:
    settings = load_settings(config)
    _, kiosk = _kiosk(settings)
    seed = first_seed
    while True:
        kiosk.register(face(seed), consent=True, model_version=MODEL)
        kiosk.retrieve(face(seed), model_version=MODEL)
        seed += 1


def test_sigkill_at_random_moments(db_url: str, database: Database, tmp_path: Path) -> None:
    config = write_config(tmp_path, db_url)
    settings = load_settings(config)
    store, _ = start_store(settings)
    store.close()
    database.dispose()
    rng = random.Random(1234)
    for round_ in range(4):
        proc = FORK.Process(target=_work_forever, args=(config, 1000 * (round_ + 1)))
        proc.start()
        time.sleep(0.4 + rng.random() * 0.4)  # start-up takes ~0.3 s; then it is mid-work
        os.kill(proc.pid or 0, signal.SIGKILL)
        proc.join(timeout=30)
        assert proc.exitcode == -signal.SIGKILL
        with database.transaction() as session:
            assert consistency.invariant_violations(session) == []
        store, report = start_store(settings)
        store.close()
        assert {f.kind for f in report.findings} <= {"interrupted_unlock"}
    with database.transaction() as session:
        worked = sum(1 for _ in audit.entries(session, action="unlock"))
    assert worked >= 4, "the workers were killed before doing any work"
