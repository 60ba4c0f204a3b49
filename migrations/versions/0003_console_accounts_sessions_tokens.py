"""Site console: staff passwords and kiosk scopes, browser sessions, API tokens, login throttle,
alert acknowledgements;
the kiosk's ``staff`` role becomes ``attendant`` (roles: attendant / manager / admin).

Downgrade drops the console tables (passwords, sessions and tokens are lost) and maps
``attendant`` and ``manager`` back to ``staff`` (the least privilege the old code knew).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-05 04:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "console_accounts",
        sa.Column("staff_id", sa.Integer(), nullable=False),
        sa.Column("password_hash", sa.String(length=256), nullable=False),
        sa.Column("kiosks", sa.JSON(), nullable=True),
        sa.Column("failed_attempts", sa.Integer(), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("disabled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("password_set_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["staff_id"], ["staff.id"], name=op.f("fk_console_accounts_staff_id_staff")
        ),
        sa.PrimaryKeyConstraint("staff_id", name=op.f("pk_console_accounts")),
    )
    op.create_table(
        "console_sessions",
        sa.Column("id_hash", sa.String(length=64), nullable=False),
        sa.Column("staff_id", sa.Integer(), nullable=False),
        sa.Column("csrf_token", sa.String(length=64), nullable=False),
        sa.Column("address", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["staff_id"], ["staff.id"], name=op.f("fk_console_sessions_staff_id_staff")
        ),
        sa.PrimaryKeyConstraint("id_hash", name=op.f("pk_console_sessions")),
    )
    with op.batch_alter_table("console_sessions") as batch_op:
        batch_op.create_index(batch_op.f("ix_console_sessions_staff_id"), ["staff_id"])
    op.create_table(
        "console_api_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("staff_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=96), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["staff_id"], ["staff.id"], name=op.f("fk_console_api_tokens_staff_id_staff")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_console_api_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_console_api_tokens_token_hash")),
    )
    with op.batch_alter_table("console_api_tokens") as batch_op:
        batch_op.create_index(batch_op.f("ix_console_api_tokens_staff_id"), ["staff_id"])
    op.create_table(
        "console_login_throttle",
        sa.Column("address", sa.String(length=64), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("last_failure_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("address", name=op.f("pk_console_login_throttle")),
    )
    op.create_table(
        "console_alert_acks",
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("staff", sa.String(length=64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_console_alert_acks")),
    )
    op.execute("UPDATE staff SET role = 'attendant' WHERE role = 'staff'")


def downgrade() -> None:
    op.execute("UPDATE staff SET role = 'staff' WHERE role IN ('attendant', 'manager')")
    op.drop_table("console_alert_acks")
    op.drop_table("console_login_throttle")
    with op.batch_alter_table("console_api_tokens") as batch_op:
        batch_op.drop_index(batch_op.f("ix_console_api_tokens_staff_id"))
    op.drop_table("console_api_tokens")
    with op.batch_alter_table("console_sessions") as batch_op:
        batch_op.drop_index(batch_op.f("ix_console_sessions_staff_id"))
    op.drop_table("console_sessions")
    op.drop_table("console_accounts")
