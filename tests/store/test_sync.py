"""Lockers come from config.yaml; one holding an active rental cannot be removed."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from lockers_storekit import LOCKERS

from lockers.config import LockerConfig
from lockers.store import lockers_repo, rentals
from lockers.store.db import Database
from lockers.store.lockers_repo import LockerInUseError
from lockers.store.models import LockerStatus


def configs(rows: list[dict[str, object]]) -> list[LockerConfig]:
    return [LockerConfig.model_validate(r) for r in rows]


def test_add_update_retire_and_refuse(database: Database) -> None:
    with database.transaction() as session:
        report = lockers_repo.sync_lockers(session, configs(LOCKERS))
    assert report.added == ["1", "2", "3", "4"]
    with database.transaction() as session:
        locker = lockers_repo.claim_free_locker(session)
        assert locker is not None and locker.label == "1"
        rentals.create_rental(
            session,
            locker,
            now=datetime.now(UTC),
            max_hours=1,
            retention_hours=1,
            model_version="m",
            kiosk_id="k",
        )
    # Removing locker 1 (active rental) is refused; nothing else changes either.
    with (
        pytest.raises(LockerInUseError, match="locker 1 is removed") as err,
        database.transaction() as session,
    ):
        lockers_repo.sync_lockers(session, configs(LOCKERS[1:]))
    assert "lockers lockers reset" in err.value.hint
    # Removing 4 and adding 5 on 4's wire works; 4 is kept for history but hidden.
    new = [*LOCKERS[:3], {"label": "5", "size": "S", "board": 0, "channel": 4}]
    with database.transaction() as session:
        report = lockers_repo.sync_lockers(session, configs(new))
        assert (report.added, report.retired) == (["5"], ["4"])
        labels = [(lk.label, lk.status) for lk in lockers_repo.list_lockers(session)]
    assert labels == [
        ("1", LockerStatus.OCCUPIED),
        ("2", LockerStatus.AVAILABLE),
        ("3", LockerStatus.AVAILABLE),
        ("5", LockerStatus.AVAILABLE),
    ]
    with database.transaction() as session:
        assert not lockers_repo.sync_lockers(session, configs(new)).changed


def test_by_size_policy_takes_the_smallest_that_fits(database: Database) -> None:
    with database.transaction() as session:
        lockers_repo.sync_lockers(session, configs(LOCKERS))
        picks = [lockers_repo.claim_free_locker(session, "by_size", "M") for _ in range(4)]
    assert [p.label if p else None for p in picks] == ["1", "2", "3", None]
