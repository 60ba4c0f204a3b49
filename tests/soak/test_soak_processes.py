"""Short soaks with real kiosk processes: SIGKILLs (restart + start-up check), board faults,
two kiosks on one SQLite file and on one PostgreSQL database; and the command line."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from lockers.cli import app
from lockers.errors import LockersError
from lockers.soak.kiosks import KioskDied
from lockers.soak.ops import Op, OpKind
from lockers.soak.options import SoakOptions
from lockers.soak.runner import run_soak
from lockers.soak.site import SoakSite

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "store"))
from lockers_storekit import NO_POSTGRES, POSTGRES_URL

REPO = Path(__file__).resolve().parents[2]


def _faulty(**overrides: object) -> SoakOptions:
    options = SoakOptions(
        kiosks=2,
        max_cycles=40,
        max_seconds=90,
        sigkill_rate=0.3,
        board_fault_rate=0.3,
        db_fault_rate=0.2,
        seed=11,
    )
    for name, value in overrides.items():
        setattr(options, name, value)
    return options


def test_two_kiosk_processes_on_one_sqlite_file_survive_kills_and_faults() -> None:
    result = run_soak(_faulty())
    assert result.clean, result.examples
    # Kills at named steps, and kills that landed inside an op (after its first step, before
    # its answer: the process was found dead, not idle).
    assert result.faults["sigkill_at_step"] > 0 and result.faults["sigkill_random"] > 0
    assert result.restarts >= result.sigkills
    assert result.board_faults > 0
    assert result.ops["register:opened"] > 0 and result.ops["retrieve:opened"] > 0
    assert set(result.registrations) == {"soak-0", "soak-1"}
    if os.geteuid() == 0:
        assert result.faults["disk_full"] > 0
    else:
        assert any(line.startswith("disk_full: not root") for line in result.skipped)


@pytest.fixture
def own_postgres_database() -> Iterator[str]:
    """A database of this test's own on the test server (other suites share lockers_test)."""
    name = f"lockers_soak_{os.getpid()}"
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name}")
        conn.exec_driver_sql(f"CREATE DATABASE {name}")
    try:
        yield make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.dispose()


@pytest.mark.skipif(not POSTGRES_URL, reason=NO_POSTGRES)
def test_two_kiosk_processes_on_one_postgresql_database(own_postgres_database: str) -> None:
    url = own_postgres_database
    result = run_soak(_faulty(backend="postgresql", database_url=url, max_cycles=30))
    assert result.clean, result.examples
    assert result.sigkills > 0 and result.board_faults > 0
    assert any("postgres_restart: skipped" in line for line in result.skipped)


def _lockers(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-m", "lockers", "soak", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )


def test_the_command_prints_json_figures() -> None:
    done = _lockers("--cycles", "6", "--sigkill-rate", "0.3", "--db-fault-rate", "0", "--json")
    assert done.returncode == 0, done.stderr
    figures = json.loads(done.stdout)
    assert figures["cycles"] == 6 and figures["clean"] is True
    assert set(figures["violations"]) >= {"wrong_locker_opens", "double_bookings", "lost_rentals"}


def test_the_command_refuses_an_unknown_backend() -> None:
    done = _lockers("--backend", "mysql")
    assert done.returncode == 2
    assert "--backend 'mysql' is unknown" in done.stderr and "hint:" in done.stderr


def test_an_op_sent_to_a_kiosk_that_died_between_ops_is_reported_as_its_death(
    tmp_path: Path,
) -> None:
    """A kiosk's site agent may SIGKILL it between ops: sending it the next op must not raise
    (an EPIPE would end ``lockers soak`` with status 1 and not a word); the answer is
    KioskDied."""
    options = SoakOptions(kiosks=1, lockers=4, db_fault_rate=0.0, work_dir=tmp_path)
    site = SoakSite(options, [])
    try:
        site.build()
        kiosk = site.kiosks[0]
        kiosk.start()
        kiosk.kill()
        kiosk._proc.join(30)  # type: ignore[attr-defined]  # dead, not yet reaped by the harness
        kiosk.submit(Op(1, OpKind.EXPIRE, 0.0))
        with pytest.raises(KioskDied):
            kiosk.collect(30)
    finally:
        site.close()


def test_a_broken_pipe_inside_the_harness_ends_the_command_with_its_reason(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """click takes any EPIPE for a closed stdout (exit 1, silent) and an EOFError for a closed
    stdin ("Aborted!"): one from the harness (a kiosk's pipe, the forkserver's) must say what
    happened instead."""

    for lost in (BrokenPipeError(errno.EPIPE, "Broken pipe"), EOFError()):

        def lose_a_pipe(*_args: object, lost: BaseException = lost) -> None:
            raise lost

        monkeypatch.setattr("lockers.soak.runner.run_soak", lose_a_pipe)
        done = CliRunner().invoke(app, ["soak", "--cycles", "1", "--json"])
        assert done.exit_code == 1
        assert isinstance(done.exception, RuntimeError)
        assert "lost a pipe" in str(done.exception)


def test_a_kiosk_that_cannot_start_at_set_up_says_why(tmp_path: Path) -> None:
    options = SoakOptions(kiosks=1, lockers=4, db_fault_rate=0.0, work_dir=tmp_path)
    site = SoakSite(options, [])
    try:
        site.build()
        site.emulators[0].stop()  # its board's port is gone
        with pytest.raises(LockersError, match="soak-0: "):
            site.kiosks[0].start()
    finally:
        site.close()
