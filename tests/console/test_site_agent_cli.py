"""``lockers site agent`` as a process: registers and beats, signs off on SIGTERM (exit 0), and
a second process with the same kiosk id is refused with the fix, leaving the first untouched."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest
from kiosk_procs import REPO, child_env, kiosk_config, start_site_kiosks, stop_site_kiosks

from lockers.app.site import STOP_SIGNALS, run_site_agent
from lockers.config import load_settings
from lockers.errors import LockersError
from lockers.store import site
from lockers.store.db import Database
from lockers.store.models import utcnow


def test_agent_signs_off_on_sigterm_and_a_twin_is_refused(
    database: Database, db_url: str, tmp_path: Path
) -> None:
    (kiosk,) = start_site_kiosks(
        tmp_path, db_url, database, [("kiosk-1", "A-", "Lobby")], heartbeat_s=1, command_ttl_s=5
    )
    try:
        twin = subprocess.run(
            [sys.executable, "-m", "lockers", "--config", str(kiosk.config), "site", "agent"],
            cwd=REPO,
            env=child_env(),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert twin.returncode != 0
        assert "already used by another running kiosk" in twin.stdout + twin.stderr
        assert "Traceback" not in twin.stdout + twin.stderr
        with database.transaction() as session:
            row = site.get_kiosk(session, "kiosk-1")
            assert row is not None and row.instance == kiosk.instance  # the first one holds it
            assert site.is_online(row, utcnow())
        proc = kiosk.proc
        assert proc is not None
        kiosk.stop()  # SIGTERM
        assert proc.returncode == 0, kiosk.log_tail()
        assert "site agent of kiosk-1 running" in kiosk.log_tail()
        with database.transaction() as session:
            row = site.get_kiosk(session, "kiosk-1")
            assert row is not None and row.stopped_at is not None
            assert not site.is_online(row, utcnow())
    finally:
        stop_site_kiosks([kiosk])


def test_a_refused_start_puts_the_signal_handlers_back(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'never-upgraded.db'}"  # no schema: the start is refused
    config = kiosk_config(
        tmp_path,
        url,
        "kiosk-1",
        prefix="A-",
        display_name="Lobby",
        port="emulator",
        heartbeat_s=1,
        command_ttl_s=5,
    )
    before = {sig: signal.getsignal(sig) for sig in STOP_SIGNALS}
    with pytest.raises(LockersError):
        run_site_agent(load_settings(config))
    assert {sig: signal.getsignal(sig) for sig in STOP_SIGNALS} == before
