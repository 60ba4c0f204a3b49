"""Lockers come from config.yaml; one holding an active rental cannot be removed; each kiosk of
a site syncs only its own bank."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

import pytest
from lockers_storekit import LOCKERS
from pydantic import ValidationError
from sqlalchemy import select

from lockers.config import LockerConfig, Settings
from lockers.store import lockers_repo, rentals
from lockers.store.db import Database
from lockers.store.lockers_repo import LabelTakenError, LockerInUseError
from lockers.store.models import Locker, LockerStatus


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


# --- one site, several kiosks: each kiosk syncs only its own bank ---------------------------

BANK = [{"label": str(n), "size": "M", "board": 0, "channel": n} for n in (1, 2, 3, 4)]


def kiosk_settings(kiosk_id: str, prefix: str, lockers: list[dict[str, object]] = BANK) -> Settings:
    return Settings.model_validate(
        {"database": {"kiosk_id": kiosk_id}, "site": {"label_prefix": prefix}, "lockers": lockers}
    )


def bank_rows(database: Database) -> set[tuple[str, str, int, int, bool]]:
    with database.transaction() as session:
        return {
            (lk.kiosk_id, lk.label, lk.board, lk.channel, lk.retired_at is None)
            for lk in session.scalars(select(Locker))
        }


@pytest.mark.parametrize("order", list(itertools.product("ab", repeat=3)))
def test_two_kiosks_keep_both_banks_after_every_sync_order(
    database: Database, order: tuple[str, ...]
) -> None:
    kiosks = {"a": kiosk_settings("kiosk-a", "A-"), "b": kiosk_settings("kiosk-b", "B-")}
    synced: set[str] = set()
    for name in order:
        with database.transaction() as session:
            lockers_repo.sync_bank(session, kiosks[name])
        synced.add(name)
        expected = {
            (f"kiosk-{k}", f"{k.upper()}-{n}", 0, n, True) for k in synced for n in (1, 2, 3, 4)
        }
        assert bank_rows(database) == expected  # same wires, two boards, nothing retired
    with database.transaction() as session:
        assert {lk.kiosk_id for lk in lockers_repo.list_lockers(session, "kiosk-a")} <= {"kiosk-a"}


def test_a_kiosk_retires_only_its_own_lockers(database: Database) -> None:
    a, b = kiosk_settings("kiosk-a", "A-"), kiosk_settings("kiosk-b", "B-")
    for kiosk in (a, b):
        with database.transaction() as session:
            lockers_repo.sync_bank(session, kiosk)
    shrunk = kiosk_settings("kiosk-b", "B-", BANK[:2])
    with database.transaction() as session:
        report = lockers_repo.sync_bank(session, shrunk)
    assert (report.added, report.updated, report.retired) == ([], [], ["B-3", "B-4"])
    rows = bank_rows(database)
    assert {r for r in rows if r[0] == "kiosk-a"} == {
        ("kiosk-a", f"A-{n}", 0, n, True) for n in (1, 2, 3, 4)
    }
    assert ("kiosk-b", "B-4", 0, 4, False) in rows
    # A kiosk with an empty bank retires only its own lockers too.
    with database.transaction() as session:
        assert lockers_repo.sync_bank(session, kiosk_settings("kiosk-b", "B-", [])).retired == [
            "B-1",
            "B-2",
        ]
        assert len(lockers_repo.list_lockers(session)) == 4


def test_a_label_of_another_kiosk_is_refused_naming_that_kiosk(database: Database) -> None:
    with database.transaction() as session:
        lockers_repo.sync_bank(session, kiosk_settings("kiosk-a", ""))
    before = bank_rows(database)
    clash = [*BANK[:2], {"label": "3", "size": "M", "board": 1, "channel": 1}]
    with (
        pytest.raises(LabelTakenError, match="3 is a locker of kiosk 'kiosk-a'") as err,
        database.transaction() as session,
    ):
        lockers_repo.sync_bank(session, kiosk_settings("kiosk-b", "", clash))
    assert "site.label_prefix" in err.value.hint
    assert bank_rows(database) == before  # nothing of the refused sync was kept


def test_a_retired_label_of_another_kiosk_moves_to_the_new_bank(database: Database) -> None:
    with database.transaction() as session:
        lockers_repo.sync_bank(session, kiosk_settings("kiosk-a", ""))
        lockers_repo.sync_bank(session, kiosk_settings("kiosk-a", "", BANK[:3]))  # retires 4
        report = lockers_repo.sync_bank(session, kiosk_settings("kiosk-b", "", BANK[3:]))
    assert report.added == ["4"]
    assert ("kiosk-b", "4", 0, 4, True) in bank_rows(database)


def test_registration_claims_only_its_own_bank(database: Database) -> None:
    for kiosk in (kiosk_settings("kiosk-a", "A-"), kiosk_settings("kiosk-b", "B-")):
        with database.transaction() as session:
            lockers_repo.sync_bank(session, kiosk)
    with database.transaction() as session:
        picks = [lockers_repo.claim_free_locker(session, kiosk_id="kiosk-b") for _ in range(5)]
    assert [p.label if p else None for p in picks] == ["B-1", "B-2", "B-3", "B-4", None]


def test_label_prefix_makes_the_database_labels(database: Database) -> None:
    settings = kiosk_settings("kiosk-a", "A-")
    assert [lk.label for lk in settings.bank] == ["A-1", "A-2", "A-3", "A-4"]
    assert [lk.label for lk in settings.lockers] == ["1", "2", "3", "4"]
    with pytest.raises(ValidationError, match="longer than 16"):
        kiosk_settings("k", "PREFIX-", [{"label": "1234567890", "channel": 1}])
