"""Migrations produce exactly the models' schema; the kiosk refuses a schema it does not match."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text

from lockers.errors import StoreError
from lockers.store.audit_values import AuditAction, AuditOutcome
from lockers.store.db import Database
from lockers.store.models import Base
from lockers.store.schema import (
    alembic_config,
    head_revision,
    require_current_schema,
    schema_status,
    upgrade,
)


def test_migrations_match_models_exactly(database: Database) -> None:
    with database.engine.connect() as conn:
        diff = compare_metadata(
            MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata
        )
    assert diff == []
    assert schema_status(database).up_to_date


def test_downgrade_then_upgrade_round_trips(database: Database) -> None:
    cfg = alembic_config()
    with database.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "base")
    assert schema_status(database).current is None
    assert upgrade(database) == head_revision()


def test_empty_database_is_refused_with_the_fixing_command(db_url: str) -> None:
    db = Database(db_url)
    try:
        with pytest.raises(StoreError, match="no schema yet") as err:
            require_current_schema(db)
        assert err.value.hint == "run: lockers db upgrade"
    finally:
        db.dispose()


def test_newer_schema_is_refused(database: Database) -> None:
    with database.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999_future'"))
    with pytest.raises(StoreError, match="newer version") as err:
        require_current_schema(database)
    assert "install the newer lockers" in err.value.hint
    with pytest.raises(StoreError, match="does not know"):
        upgrade(database)


def test_older_schema_is_refused(database: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    # Pretend the code is one revision ahead of the database.
    monkeypatch.setattr("lockers.store.schema.head_revision", lambda: "0002_next")
    with pytest.raises(StoreError, match="older than this version") as err:
        require_current_schema(database)
    assert "lockers db upgrade" in err.value.hint


def test_audit_log_is_append_only_in_the_database(database: Database) -> None:
    from lockers.store import audit

    with database.transaction() as session:
        audit.append(
            session,
            at=datetime.now(UTC),
            actor="t",
            action=AuditAction.RESET,
            outcome=AuditOutcome.OK,
        )
    for sql in ("UPDATE audit_log SET outcome = 'forged'", "DELETE FROM audit_log"):
        with pytest.raises(StoreError, match="append-only"), database.transaction() as session:
            session.execute(text(sql))
    with database.transaction() as session:
        assert [e.outcome for e in audit.entries(session)] == ["ok"]


def test_audit_entries_outside_the_contract_are_refused(database: Database) -> None:
    from lockers.store import audit

    with pytest.raises(ValueError), database.transaction() as session:
        audit.append(session, at=datetime.now(UTC), actor="t", action="opend", outcome="ok")  # type: ignore[arg-type]
    with database.transaction() as session:
        assert list(audit.entries(session)) == []


def test_a_vanished_unlock_request_is_an_explicit_error(database: Database) -> None:
    from lockers.store import unlocks

    with pytest.raises(StoreError, match="vanished"), database.transaction() as session:
        unlocks.finish_unlock(session, 999, "opened", "", datetime.now(UTC))


def _database_at_0001_with_lockers(database: Database) -> None:
    """An existing single-kiosk database from before banks: 2 lockers, one with a rental."""
    cfg = alembic_config()
    with database.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0001")
    stamp = datetime.now(UTC)
    if database.dialect == "sqlite":  # stored as naive UTC there (lockers.store.models)
        stamp = stamp.replace(tzinfo=None)
    with database.engine.begin() as conn:
        for n in (1, 2):
            conn.execute(
                text(
                    "INSERT INTO lockers (id, label, size, board, channel, status, door_state, "
                    "updated_at) VALUES (:n, :label, 'M', 0, :n, 'available', 'unknown', :at)"
                ),
                {"n": n, "label": str(n), "at": stamp},
            )
        conn.execute(
            text(
                "INSERT INTO rentals (locker_id, state, started_at, ends_at, expires_at, "
                "consent_at, model_version, kiosk_id) VALUES (1, 'active', :at, :at, :at, :at, "
                "'m', 'kiosk-1')"
            ),
            {"at": stamp},
        )


@pytest.mark.parametrize(
    ("given", "env", "expected"),
    [("front-desk", None, "front-desk"), (None, "gym-2f", "gym-2f"), (None, None, "kiosk-1")],
)
def test_upgrade_gives_existing_lockers_to_the_upgrading_kiosk(
    database: Database,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    given: str | None,
    env: str | None,
    expected: str,
) -> None:
    from lockers.store import audit, lockers_repo

    _database_at_0001_with_lockers(database)
    if env is not None:
        monkeypatch.setenv("LOCKERS_DATABASE__KIOSK_ID", env)
    with caplog.at_level("WARNING", logger="lockers.migrations"):
        assert upgrade(database, kiosk_id=given) == head_revision()
    assert f"2 existing lockers assigned to the bank of kiosk {expected!r}" in caplog.text
    with database.transaction() as session:
        owners = {(lk.label, lk.kiosk_id) for lk in lockers_repo.list_lockers(session)}
        assert owners == {("1", expected), ("2", expected)}
        assert lockers_repo.active_rental_of(session, 1) is not None  # rentals untouched
        said = [e for e in audit.entries(session) if e.action == "schema_migration"]
    assert len(said) == 1 and expected in (said[0].reason or "")
    assert said[0].actor == "migration:0002"


def test_upgrading_an_empty_database_says_nothing(
    db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    db = Database(db_url)
    try:
        with caplog.at_level("WARNING", logger="lockers.migrations"):
            upgrade(db, kiosk_id="k")
        assert "assigned" not in caplog.text
    finally:
        db.dispose()


def test_downgrade_refuses_two_banks_on_one_wire(database: Database) -> None:
    from lockers.config import LockerConfig
    from lockers.store import lockers_repo

    wire = [LockerConfig(label="x", channel=1)]
    with database.transaction() as session:
        lockers_repo.sync_lockers(session, wire, "kiosk-a")
        lockers_repo.sync_lockers(session, [LockerConfig(label="y", channel=1)], "kiosk-b")
    cfg = alembic_config()
    with pytest.raises(RuntimeError, match="board 0 channel 1"), database.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0001")
