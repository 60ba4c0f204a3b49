"""The kiosk registry and heartbeat of a site, and ``lockers site status``."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from lockers_storekit import write_config
from typer.testing import CliRunner

from lockers.cli import app
from lockers.config import LockerConfig
from lockers.store import audit, lockers_repo, rentals, site
from lockers.store.db import Database
from lockers.store.models import LockerStatus
from lockers.store.site import KioskIdentity, KioskIdInUseError, KioskReplacedError

T0 = datetime(2026, 12, 5, 4, 0, tzinfo=UTC)
BEAT = 10.0


def identity(kiosk_id: str = "kiosk-a", instance: str = "run-1") -> KioskIdentity:
    return KioskIdentity(
        kiosk_id=kiosk_id,
        instance=instance,
        display_name=f"{kiosk_id} display",
        location="1F",
        version="0.1.0",
        model_version="m@1",
        heartbeat_s=BEAT,
    )


def test_register_beat_and_go_offline_after_three_missed_beats(database: Database) -> None:
    with database.transaction() as session:
        site.register_kiosk(session, identity(), T0, failed_checks=["camera"], free_lockers=4)
    with database.transaction() as session:
        site.heartbeat(session, "kiosk-a", "run-1", T0 + timedelta(seconds=10), free_lockers=3)
    with database.transaction() as session:
        [live] = site.site_status(session, T0 + timedelta(seconds=40))
        [dead] = site.site_status(session, T0 + timedelta(seconds=40.5))
    assert (live.online, live.display_name, live.location) == (True, "kiosk-a display", "1F")
    assert live.last_beat_at == T0 + timedelta(seconds=10)
    assert live.problems == ["failed check: camera"]
    assert not dead.online and dead.problems[0] == "offline: no heartbeat for 30 s"
    with database.transaction() as session:
        site.sign_off(session, "kiosk-a", "run-1", T0 + timedelta(seconds=11))
        [stopped] = site.site_status(session, T0 + timedelta(seconds=12))
        actions = [e.action for e in audit.entries(session)]
    assert not stopped.online and stopped.problems[0] == "stopped"
    assert actions == ["kiosk_started", "kiosk_stopped"]


def test_a_second_kiosk_with_the_same_id_is_refused_while_the_first_beats(
    database: Database,
) -> None:
    with database.transaction() as session:
        site.register_kiosk(session, identity(instance="first"), T0)
    with (
        pytest.raises(KioskIdInUseError, match="last heartbeat was 2026-12-05 04:00:00Z") as err,
        database.transaction() as session,
    ):
        site.register_kiosk(session, identity(instance="second"), T0 + timedelta(seconds=29))
    assert "database.kiosk_id" in err.value.hint and "1 s" in err.value.hint
    # The same process registering again (a reconnect) is fine.
    with database.transaction() as session:
        site.register_kiosk(session, identity(instance="first"), T0 + timedelta(seconds=29))
    # Silent past 3 beats: a restart takes the id over, and the old process learns it.
    with database.transaction() as session:
        site.register_kiosk(session, identity(instance="second"), T0 + timedelta(seconds=60))
    with pytest.raises(KioskReplacedError), database.transaction() as session:
        site.heartbeat(session, "kiosk-a", "first", T0 + timedelta(seconds=61))


def _bank(database: Database, kiosk_id: str, prefix: str) -> None:
    configs = [LockerConfig(label=f"{prefix}{n}", channel=n) for n in (1, 2, 3, 4)]
    with database.transaction() as session:
        lockers_repo.sync_lockers(session, configs, kiosk_id)


def test_site_status_counts_each_bank(database: Database) -> None:
    _bank(database, "kiosk-a", "A-")
    _bank(database, "kiosk-b", "B-")
    with database.transaction() as session:
        site.register_kiosk(session, identity("kiosk-a"), T0)
        for hours in (1, 2):  # two rentals on A, the first overdue at T0 + 1.5 h
            locker = lockers_repo.claim_free_locker(session, kiosk_id="kiosk-a")
            assert locker is not None
            rentals.create_rental(
                session,
                locker,
                now=T0,
                max_hours=hours,
                retention_hours=1,
                model_version="m",
                kiosk_id="kiosk-a",
            )
        lockers_repo.get_locker(session, "A-4").status = LockerStatus.OUT_OF_SERVICE
        lockers_repo.flag(session, lockers_repo.get_locker(session, "A-3"), "door jammed")
    with database.transaction() as session:
        a, b = site.site_status(session, T0 + timedelta(hours=1, minutes=30))
    counts = (a.lockers_free, a.lockers_occupied, a.lockers_overdue, a.lockers_out_of_service)
    assert counts == (0, 2, 1, 1)
    assert a.lockers_flagged == 1 and a.problems[-1] == "1 lockers need staff"
    assert (b.kiosk_id, b.registered, b.online, b.lockers_free) == ("kiosk-b", False, False, 4)
    assert b.problems == ["never started on this database"]


def test_site_status_command(tmp_path: Path, db_url: str) -> None:
    config = write_config(tmp_path, db_url)
    runner = CliRunner()
    assert runner.invoke(app, ["--config", str(config), "db", "upgrade"]).exit_code == 0
    database = Database(db_url)
    try:
        with database.transaction() as session:
            site.register_kiosk(session, identity("kiosk-1"), datetime.now(UTC), free_lockers=4)
    finally:
        database.dispose()
    result = runner.invoke(app, ["--config", str(config), "site", "status", "--json"])
    assert result.exit_code == 0, result.output
    [kiosk] = json.loads(result.output)["kiosks"]
    assert (kiosk["kiosk_id"], kiosk["online"], kiosk["lockers_free"]) == ("kiosk-1", True, 4)
    table = runner.invoke(app, ["--config", str(config), "site", "status"])
    assert table.exit_code == 0 and "kiosk-1" in table.output and "(1F)" in table.output
    assert "online" in table.output and "4/0/0/0" in table.output
