"""The rental change counter (migration 0006): the database stamps every change of a rental's
activity, whoever writes it, and the stamps commit in increasing order, so that a kiosk's
gallery can read only what changed since its last look."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import numpy as np
import pytest
from alembic import command
from lockers_storekit import MODEL
from sqlalchemy import text

from lockers.errors import StoreError
from lockers.store import rentals
from lockers.store.bulk import seed_active_rentals
from lockers.store.crypto import KEY_BYTES, TemplateCipher
from lockers.store.db import Database, Session
from lockers.store.models import Rental, RentalState
from lockers.store.schema import alembic_config, upgrade

NOW = datetime(2026, 1, 1, 12, tzinfo=UTC)
CIPHER = TemplateCipher(bytes(range(KEY_BYTES)))


def seed(session: Session, count: int, prefix: str, first_board: int = 1000) -> list[int]:
    """``count`` active rentals with 2 templates each (their own lockers)."""
    vectors = np.random.default_rng(len(prefix) + count).standard_normal((count, 2, 512))
    return seed_active_rentals(
        session,
        vectors.astype(np.float32),
        CIPHER,
        now=NOW,
        model_version=MODEL,
        kiosk_id="kiosk-1",
        first_board=first_board,
        label_prefix=prefix,
    )


def marker(database: Database) -> int:
    with database.transaction() as session:
        value = rentals.change_marker(session)
    assert value is not None
    return value


def changes(database: Database, since: int) -> dict[int, bool]:
    with database.transaction() as session:
        return rentals.changed_rentals(session, MODEL, since).active


def end(database: Database, rental_id: int, state: RentalState = RentalState.ENDED) -> None:
    with database.transaction() as session:
        rental = rentals.require_rental(session, rental_id)
        rentals.close_rental(session, rental, state, now=NOW, reason="test", free_locker=True)


def test_every_change_of_a_rentals_activity_is_stamped(database: Database) -> None:
    start = marker(database)
    assert changes(database, start) == {}
    with database.transaction() as session:
        first, second = seed(session, 2, "a")
    registered = marker(database)
    assert registered > start
    assert changes(database, start) == {first: True, second: True}
    assert changes(database, registered) == {}

    end(database, first)
    ended = marker(database)
    assert ended > registered and changes(database, registered) == {first: False}
    # Expiry and voiding are changes of state too; templates deleted by a repair also stamp.
    end(database, second, RentalState.EXPIRED)
    assert changes(database, ended) == {second: False}
    assert changes(database, start) == {first: False, second: False}


def test_other_model_versions_are_not_reported(database: Database) -> None:
    start = marker(database)
    with database.transaction() as session:
        seed(session, 1, "a")
        session.execute(text("UPDATE rentals SET model_version = 'other@1'"))
    assert marker(database) > start and changes(database, start) == {}


def test_writes_that_bypass_the_code_are_stamped(database: Database) -> None:
    """Older kiosk processes still running after the upgrade, or staff with SQL: the database
    stamps their writes itself."""
    with database.transaction() as session:
        (rental_id,) = seed(session, 1, "a")
    before = marker(database)
    with database.transaction() as session:
        session.execute(text(f"UPDATE rentals SET state = 'ended' WHERE id = {rental_id}"))
    assert changes(database, before) == {rental_id: False}
    before = marker(database)
    with database.transaction() as session:
        session.execute(text(f"DELETE FROM face_templates WHERE rental_id = {rental_id}"))
    assert changes(database, before) == {rental_id: False}


def test_a_rolled_back_change_leaves_no_stamp(database: Database) -> None:
    before = marker(database)
    with pytest.raises(RuntimeError), database.transaction() as session:
        seed(session, 1, "a")
        session.flush()
        raise RuntimeError("the registration failed")
    assert marker(database) == before and changes(database, before) == {}


def test_rentals_from_before_the_migration_are_stamped_when_they_change(db_url: str) -> None:
    database = Database(db_url)
    try:
        upgrade(database, "0005")
        with database.transaction() as session:
            old_one, old_two = seed(session, 2, "old")
        upgrade(database)
        with database.transaction() as session:
            stamps = [rentals.require_rental(session, rid).change_seq for rid in (old_one, old_two)]
        assert stamps == [None, None]  # a kiosk's gallery reads them all at start-up
        start = marker(database)
        end(database, old_one)
        assert changes(database, start) == {old_one: False}
        # Downgrading removes the triggers with the column; upgrading brings both back.
        with database.engine.begin() as conn:
            cfg = alembic_config()
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "0005")
        with database.transaction() as session:  # the 0005 schema: no triggers left behind
            session.execute(text(f"UPDATE rentals SET state = 'ended' WHERE id = {old_two}"))
        upgrade(database)
        assert marker(database) == 0
    finally:
        database.dispose()


def test_a_bulk_seed_stamps_every_rental(database: Database) -> None:
    start = marker(database)
    with database.transaction() as session:
        ids = seed(session, 300, "bulk")
    assert changes(database, start) == dict.fromkeys(ids, True)


def test_a_missing_counter_row_reads_as_none(database: Database) -> None:
    with database.transaction() as session:
        session.execute(text("DELETE FROM rental_change_counter"))
    with database.transaction() as session:
        assert rentals.change_marker(session) is None
        seed(session, 1, "a")  # writes still work


@pytest.fixture
def postgres(database: Database) -> Iterator[Database]:
    if database.dialect != "postgresql":
        pytest.skip("concurrent writers: SQLite has one writer at a time (BEGIN IMMEDIATE)")
    yield database


def test_stamps_are_taken_in_commit_order_on_postgresql(postgres: Database) -> None:
    """A transaction that started first but commits last gets the higher stamp: a reader that
    saw the lower one cannot miss it (the stamp is taken at commit, under the counter's lock)."""
    start = marker(postgres)
    with postgres.sessions() as slow, slow.begin():
        (late,) = seed(slow, 1, "late", first_board=2000)
        slow.flush()
        with postgres.transaction() as session:
            (early,) = seed(session, 1, "early", first_board=3000)
        seen = marker(postgres)
        assert changes(postgres, start) == {early: True}  # the slow one is not committed yet
    assert changes(postgres, seen) == {late: True}
    with postgres.transaction() as session:
        stamps = {rid: rentals.require_rental(session, rid).change_seq for rid in (early, late)}
    assert stamps[early] == seen < (stamps[late] or 0)


def test_one_stamp_per_postgresql_transaction(postgres: Database) -> None:
    """Bumping the counter row once per row would be quadratic in one transaction there."""
    start = marker(postgres)
    with postgres.transaction() as session:
        ids = seed(session, 50, "many")
    assert marker(postgres) == start + 1
    with postgres.transaction() as session:
        stamps = {rentals.require_rental(session, rid).change_seq for rid in ids}
    assert stamps == {start + 1}


def test_the_retrieve_lock_waits_for_a_rental_being_ended_on_postgresql(
    postgres: Database,
) -> None:
    """``lock_rental`` returns the state as committed by the kiosk that was ending it."""
    with postgres.transaction() as session:
        (rental_id,) = seed(session, 1, "a")
    waiting, read = threading.Event(), dict[str, object]()

    def kiosk_one() -> None:
        with postgres.transaction() as session:
            waiting.set()
            rental = rentals.lock_rental(session, rental_id)
            read["state"] = None if rental is None else rental.state

    with postgres.sessions() as other, other.begin():
        rental = other.get(Rental, rental_id)
        assert rental is not None
        rentals.close_rental(
            other, rental, RentalState.ENDED, now=NOW, reason="kiosk 2", free_locker=True
        )
        other.flush()
        reader = threading.Thread(target=kiosk_one)
        reader.start()
        assert waiting.wait(10)
        wait_for_lock_wait(postgres)
        assert "state" not in read  # still blocked behind kiosk 2's uncommitted end
    reader.join(30)
    assert read == {"state": RentalState.ENDED}


def wait_for_lock_wait(database: Database) -> None:
    """Until another backend of this database waits on a row lock (30 s at most: a loaded CI
    machine can be slow to start the reader's transaction)."""
    query = text(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
        "AND wait_event_type = 'Lock'"
    )
    deadline = time.monotonic() + 30.0
    with database.engine.connect() as conn:
        while time.monotonic() < deadline:
            if conn.execute(query).scalar():
                return
            conn.execute(text("SELECT pg_sleep(0.01)"))
    raise StoreError("the reader never waited on the lock")
