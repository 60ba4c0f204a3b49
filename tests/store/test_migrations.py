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
