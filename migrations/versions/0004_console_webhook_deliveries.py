"""Site console: webhook deliveries (each alert to each receiver, its attempts and result).

Downgrade drops the table (the delivery history is lost; alerts still open are sent again).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-05 04:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "console_webhook_deliveries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("alert_key", sa.String(length=200), nullable=False),
        sa.Column("url", sa.String(length=500), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_status", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("gave_up_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_console_webhook_deliveries")),
        sa.UniqueConstraint(
            "alert_key", "url", name=op.f("uq_console_webhook_deliveries_alert_key_url")
        ),
    )
    with op.batch_alter_table("console_webhook_deliveries") as batch_op:
        batch_op.create_index(batch_op.f("ix_console_webhook_deliveries_alert_key"), ["alert_key"])
        batch_op.create_index(
            batch_op.f("ix_console_webhook_deliveries_next_attempt_at"), ["next_attempt_at"]
        )


def downgrade() -> None:
    with op.batch_alter_table("console_webhook_deliveries") as batch_op:
        batch_op.drop_index(batch_op.f("ix_console_webhook_deliveries_next_attempt_at"))
        batch_op.drop_index(batch_op.f("ix_console_webhook_deliveries_alert_key"))
    op.drop_table("console_webhook_deliveries")
