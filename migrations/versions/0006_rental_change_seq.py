"""The gallery's change marker: a site-wide counter that every change of a rental's activity
bumps, and the rental stamped with it, so that a kiosk's in-memory gallery re-reads only the
rentals that changed since its last look instead of every active rental id on each retrieve.

Database triggers do the stamping, so that no writer can forget it: a rental inserted or changing
state, or a face template added or deleted, stamps its rental with the next counter value. Rows
from before this migration keep ``change_seq`` NULL; a kiosk process reads every active rental at
start-up anyway, and only changes after that need a stamp.

Order: readers rely on counter values committing in increasing order. SQLite has one writer at
a time (every transaction is ``BEGIN IMMEDIATE``). PostgreSQL stamps in a deferred constraint
trigger, i.e. at commit: the counter row's lock is the last one a transaction takes and it holds
it only while committing, so the next writer gets the next value after this one committed. One
value per PostgreSQL transaction (a transaction-local setting remembers it): updating one row
thousands of times in one transaction (a bulk seed, a mass expiry) would be quadratic there.

SQLite: ``rentals`` is referenced by other tables and the kiosk runs with foreign keys on, so
the table is never recreated (native ADD/DROP COLUMN). A later migration that recreates
``rentals`` on SQLite (batch mode) drops these triggers with it and must create them again
(``tests/store/test_rental_changes.py`` checks they exist at head).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05 08:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (trigger name, event, table, the rental id the row names): SQLite's triggers.
_SQLITE_TRIGGERS = (
    ("rentals_change_on_insert", "INSERT", "rentals", "NEW.id"),
    ("rentals_change_on_state", "UPDATE OF state", "rentals", "NEW.id"),
    ("face_templates_change_on_insert", "INSERT", "face_templates", "NEW.rental_id"),
    ("face_templates_change_on_delete", "DELETE", "face_templates", "OLD.rental_id"),
)
_PG_TRIGGERS = (
    ("rentals_change", "INSERT OR UPDATE OF state", "rentals"),
    ("face_templates_change", "INSERT OR DELETE", "face_templates"),
)
_PG_FUNCTION = """
CREATE FUNCTION lockers_stamp_rental_change() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    target integer;
    stamp bigint;
BEGIN
    IF TG_TABLE_NAME = 'rentals' THEN
        target := NEW.id;
    ELSIF TG_OP = 'DELETE' THEN
        target := OLD.rental_id;
    ELSE
        target := NEW.rental_id;
    END IF;
    stamp := nullif(current_setting('lockers.rental_change_seq', true), '')::bigint;
    IF stamp IS NULL THEN
        UPDATE rental_change_counter SET seq = seq + 1 WHERE id = 1 RETURNING seq INTO stamp;
        IF stamp IS NOT NULL THEN
            PERFORM set_config('lockers.rental_change_seq', stamp::text, true);
        END IF;
    END IF;
    UPDATE rentals SET change_seq = stamp
    WHERE id = target AND change_seq IS DISTINCT FROM stamp;
    RETURN NULL;
END $$
"""


def upgrade() -> None:
    op.create_table(
        "rental_change_counter",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rental_change_counter")),
    )
    op.execute("INSERT INTO rental_change_counter (id, seq) VALUES (1, 0)")
    if op.get_bind().dialect.name == "sqlite":  # native ADD COLUMN: no table rebuild
        op.execute("ALTER TABLE rentals ADD COLUMN change_seq BIGINT")
    else:
        op.add_column("rentals", sa.Column("change_seq", sa.BigInteger(), nullable=True))
    op.create_index(op.f("ix_rentals_change_seq"), "rentals", ["change_seq"], unique=False)
    _create_triggers()


def _create_triggers() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for name, event, table, rental_id in _SQLITE_TRIGGERS:
            op.execute(
                f"CREATE TRIGGER {name} AFTER {event} ON {table} BEGIN "
                "UPDATE rental_change_counter SET seq = seq + 1 WHERE id = 1; "
                "UPDATE rentals SET change_seq = "
                f"(SELECT seq FROM rental_change_counter WHERE id = 1) WHERE id = {rental_id}; "
                "END"
            )
        return
    op.execute(_PG_FUNCTION)
    for name, event, table in _PG_TRIGGERS:
        op.execute(
            f"CREATE CONSTRAINT TRIGGER {name} AFTER {event} ON {table} "
            "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW "
            "EXECUTE FUNCTION lockers_stamp_rental_change()"
        )


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        for name, *_ in _SQLITE_TRIGGERS:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
    else:
        for name, _, table in _PG_TRIGGERS:
            op.execute(f"DROP TRIGGER IF EXISTS {name} ON {table}")
        op.execute("DROP FUNCTION IF EXISTS lockers_stamp_rental_change()")
    op.drop_index(op.f("ix_rentals_change_seq"), table_name="rentals")
    if bind.dialect.name == "sqlite":  # native DROP COLUMN (3.35+): no table rebuild
        op.execute("ALTER TABLE rentals DROP COLUMN change_seq")
    else:
        op.drop_column("rentals", "change_seq")
    op.drop_table("rental_change_counter")
