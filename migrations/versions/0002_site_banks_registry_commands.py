"""One site, several kiosks: lockers belong to a kiosk's bank; kiosk registry; site commands.

Existing lockers become the bank of the kiosk that runs the upgrade. A migration cannot read the
kiosk's config, so its id comes from, first match wins: ``config.attributes["kiosk_id"]``
(``lockers db upgrade`` passes ``database.kiosk_id``), ``alembic -x kiosk_id=...``, the
``lockers.kiosk_id`` option of alembic.ini, ``$LOCKERS_DATABASE__KIOSK_ID``, else ``kiosk-1``
(the config's default). The migration logs which it used and writes it to the audit log.

SQLite: ``lockers`` is referenced by rentals and unlock requests and the kiosk runs with
``PRAGMA foreign_keys=ON`` (which cannot be switched off inside the migration's transaction),
so the table is never recreated: the column is added with ALTER TABLE (its DDL keeps the
DEFAULT '' SQLite requires; a row inserted without a kiosk belongs to no bank, so no kiosk drives
it) and the wiring index is rebuilt. PostgreSQL drops the default afterwards.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-05 03:40:00
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import context, op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DEFAULT_KIOSK_ID = "kiosk-1"  # frozen copy of lockers.config.DEFAULT_KIOSK_ID
log = logging.getLogger("lockers.migrations")


def upgrading_kiosk() -> tuple[str, str]:
    """The id of the kiosk running the upgrade, and where it came from."""
    candidates = (
        (context.config.attributes.get("kiosk_id"), "database.kiosk_id of its config"),
        (context.get_x_argument(as_dictionary=True).get("kiosk_id"), "-x kiosk_id"),
        (context.config.get_main_option("lockers.kiosk_id"), "alembic.ini lockers.kiosk_id"),
        (os.environ.get("LOCKERS_DATABASE__KIOSK_ID"), "$LOCKERS_DATABASE__KIOSK_ID"),
    )
    for value, origin in candidates:
        if value and str(value).strip():
            return str(value).strip(), origin
    return DEFAULT_KIOSK_ID, "the default (no kiosk id was given)"


def upgrade() -> None:
    op.create_table(
        "kiosks",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("display_name", sa.String(length=64), nullable=False),
        sa.Column("location", sa.Text(), nullable=True),
        sa.Column("version", sa.String(length=32), nullable=False),
        sa.Column("model_version", sa.String(length=64), nullable=True),
        sa.Column("failed_checks", sa.JSON(), nullable=False),
        sa.Column("free_lockers", sa.Integer(), nullable=True),
        sa.Column("heartbeat_s", sa.Float(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_beat_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("stopped_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("instance", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kiosks")),
    )
    op.create_table(
        "site_commands",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kiosk_id", sa.String(length=64), nullable=False),
        sa.Column(
            "action",
            sa.Enum(
                "open",
                "reset",
                "out_of_service",
                "back_in_service",
                name="command_action",
                native_enum=False,
                create_constraint=True,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("locker_label", sa.String(length=16), nullable=False),
        sa.Column("staff", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("claimed_by", sa.String(length=64), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("result", sa.String(length=16), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["kiosk_id"], ["kiosks.id"], name=op.f("fk_site_commands_kiosk_id_kiosks")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_site_commands")),
    )
    op.create_index(
        "ix_site_commands_pending", "site_commands", ["kiosk_id", "finished_at"], unique=False
    )
    _lockers_into_banks()


def _lockers_into_banks() -> None:
    bind = op.get_bind()
    kiosk_id, origin = upgrading_kiosk()
    op.add_column(
        "lockers",
        sa.Column("kiosk_id", sa.String(length=64), nullable=False, server_default=""),
    )
    existing = bind.execute(sa.text("SELECT count(*) FROM lockers")).scalar_one()
    bind.execute(sa.text("UPDATE lockers SET kiosk_id = :kiosk"), {"kiosk": kiosk_id})
    if bind.dialect.name != "sqlite":
        op.alter_column("lockers", "kiosk_id", server_default=None)
    op.drop_index("uq_lockers_wire_in_service", table_name="lockers")
    op.create_index(
        "uq_lockers_wire_in_service",
        "lockers",
        ["kiosk_id", "board", "channel"],
        unique=True,
        sqlite_where=sa.text("retired_at IS NULL"),
        postgresql_where=sa.text("retired_at IS NULL"),
    )
    op.create_index(op.f("ix_lockers_kiosk_id"), "lockers", ["kiosk_id"], unique=False)
    if not existing:
        return
    message = (
        f"{existing} existing lockers assigned to the bank of kiosk {kiosk_id!r} "
        f"(the kiosk running the upgrade, from {origin})"
    )
    log.warning("migration 0002: %s", message)
    bind.execute(
        sa.text(
            "INSERT INTO audit_log (at, actor, action, outcome, reason) "
            "VALUES (:at, 'migration:0002', 'schema_migration', 'ok', :reason)"
        ),
        {"at": _now_for(bind), "reason": message},
    )


def _now_for(bind: sa.Connection) -> datetime:
    # Stored like lockers.store.models.UtcDateTime: naive UTC on SQLite, aware elsewhere.
    now = datetime.now(UTC)
    return now.replace(tzinfo=None) if bind.dialect.name == "sqlite" else now


def downgrade() -> None:
    bind = op.get_bind()
    shared = bind.execute(
        sa.text(
            "SELECT board, channel FROM lockers WHERE retired_at IS NULL "
            "GROUP BY board, channel HAVING count(*) > 1"
        )
    ).first()
    if shared is not None:
        raise RuntimeError(
            f"cannot downgrade below 0002: several kiosks' lockers in service use board "
            f"{shared[0]} channel {shared[1]}; one bank per database before 0002"
        )
    op.drop_index(op.f("ix_lockers_kiosk_id"), table_name="lockers")
    op.drop_index("uq_lockers_wire_in_service", table_name="lockers")
    op.create_index(
        "uq_lockers_wire_in_service",
        "lockers",
        ["board", "channel"],
        unique=True,
        sqlite_where=sa.text("retired_at IS NULL"),
        postgresql_where=sa.text("retired_at IS NULL"),
    )
    if bind.dialect.name == "sqlite":  # native DROP COLUMN (3.35+): no table rebuild
        op.execute("ALTER TABLE lockers DROP COLUMN kiosk_id")
    else:
        op.drop_column("lockers", "kiosk_id")
    op.drop_index("ix_site_commands_pending", table_name="site_commands")
    op.drop_table("site_commands")
    op.drop_table("kiosks")
