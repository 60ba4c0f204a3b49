"""Kiosk heartbeat: the retrieve recognition latency histogram (fixed buckets, cumulative since
the kiosk process started, with sum and count), for the console's /metrics.

Downgrade drops the column (the kiosks write it again at their next heartbeat).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05 07:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("kiosks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("recognition_latency", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("kiosks", schema=None) as batch_op:
        batch_op.drop_column("recognition_latency")
