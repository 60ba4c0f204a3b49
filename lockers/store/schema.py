"""Schema versions: run the Alembic migrations and refuse a database the code does not match."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.exc import DBAPIError

from lockers.errors import StoreError
from lockers.store.db import Database, describe_db_error

MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"


def alembic_config(database: Database | None = None) -> Config:
    """An Alembic config pointing at ``migrations/`` (no alembic.ini needed)."""
    if not (MIGRATIONS_DIR / "env.py").is_file():
        raise StoreError(
            f"the migrations folder {MIGRATIONS_DIR} is missing",
            hint="reinstall lockers from its source tree (the migrations ship beside the package)",
        )
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if database is not None:
        cfg.set_main_option(
            "sqlalchemy.url", database.url.render_as_string(hide_password=False).replace("%", "%%")
        )
    return cfg


def head_revision() -> str:
    """The newest revision the code knows."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:
        raise StoreError(
            "migrations/versions holds no revision",
            hint="the installation is incomplete: reinstall lockers with its migrations folder",
        )
    return head


def current_revision(database: Database) -> str | None:
    """The revision the database is at, ``None`` for an empty (never migrated) database.

    Raises:
        StoreError: the database cannot be opened or read.
    """
    try:
        with database.engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    except DBAPIError as exc:
        raise describe_db_error(exc, database.url.render_as_string()) from exc


def upgrade(database: Database, revision: str = "head", kiosk_id: str | None = None) -> str:
    """Migrate ``database`` to ``revision``; returns the revision it is at afterwards.

    ``kiosk_id`` is the upgrading kiosk's ``database.kiosk_id``: migration 0002 gives it the
    lockers that exist before it (default: ``$LOCKERS_DATABASE__KIOSK_ID``, else ``kiosk-1``).

    Raises:
        StoreError: the database cannot be written or is at a revision this code does not know.
    """
    _refuse_unknown(database)
    cfg = alembic_config()
    # Alembic logs at INFO; keep the CLI quiet unless logging was configured by the caller.
    logging.getLogger("alembic").setLevel(logging.WARNING)
    try:
        with database.engine.begin() as conn:
            cfg.attributes["connection"] = conn
            if kiosk_id:
                cfg.attributes["kiosk_id"] = kiosk_id
            command.upgrade(cfg, revision)
    except DBAPIError as exc:
        raise describe_db_error(exc, database.url.render_as_string()) from exc
    return current_revision(database) or ""


@dataclass(frozen=True)
class SchemaStatus:
    current: str | None
    head: str

    @property
    def up_to_date(self) -> bool:
        return self.current == self.head


def schema_status(database: Database) -> SchemaStatus:
    return SchemaStatus(current_revision(database), head_revision())


def require_current_schema(database: Database) -> None:
    """Refuse to run on a schema older or newer than the code, saying which command fixes it.

    Raises:
        StoreError: the database is empty, behind, or ahead of this version of lockers.
    """
    status = schema_status(database)
    where = database.url.render_as_string()
    if status.up_to_date:
        return
    if status.current is None:
        raise StoreError(
            f"the database {where} has no schema yet",
            hint="run: lockers db upgrade",
        )
    _refuse_unknown(database)
    raise StoreError(
        f"the database {where} is at schema {status.current}, older than this version of "
        f"lockers ({status.head})",
        hint="back up the database, then run: lockers db upgrade",
    )


def _refuse_unknown(database: Database) -> None:
    current = current_revision(database)
    if current is None:
        return
    scripts = ScriptDirectory.from_config(alembic_config())
    try:
        known = scripts.get_revision(current) is not None
    except Exception:  # alembic raises several types for an unknown id
        known = False
    if not known:
        raise StoreError(
            f"the database {database.url.render_as_string()} is at schema {current}, which this "
            "version of lockers does not know (it was migrated by a newer version)",
            hint="install the newer lockers version that migrated it, or restore a backup "
            "taken before that upgrade",
        )
