"""Initial schema: lockers, rentals, encrypted face templates, staff, unlock requests, audit log.

Revision ID: 0001
Revises:
Create Date: 2026-11-23 13:04:31.691145
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0001'
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('audit_log',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('actor', sa.String(length=96), nullable=False),
    sa.Column('action', sa.String(length=32), nullable=False),
    sa.Column('locker_label', sa.String(length=16), nullable=True),
    sa.Column('rental_id', sa.Integer(), nullable=True),
    sa.Column('score', sa.Float(), nullable=True),
    sa.Column('outcome', sa.String(length=32), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_log'))
    )
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_log_action'), ['action'], unique=False)
        batch_op.create_index(batch_op.f('ix_audit_log_at'), ['at'], unique=False)

    op.create_table('lockers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('label', sa.String(length=16), nullable=False),
    sa.Column('size', sa.Enum('S', 'M', 'L', name='locker_size', native_enum=False, create_constraint=True, length=16), nullable=False),
    sa.Column('board', sa.Integer(), nullable=False),
    sa.Column('channel', sa.Integer(), nullable=False),
    sa.Column('status', sa.Enum('available', 'occupied', 'out_of_service', name='locker_status', native_enum=False, create_constraint=True, length=16), nullable=False),
    sa.Column('door_state', sa.Enum('open', 'closed', 'unknown', name='door_state', native_enum=False, create_constraint=True, length=16), nullable=False),
    sa.Column('attention', sa.Text(), nullable=True),
    sa.Column('retired_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('channel >= 1', name=op.f('ck_lockers_channel_positive')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_lockers')),
    sa.UniqueConstraint('label', name=op.f('uq_lockers_label'))
    )
    with op.batch_alter_table('lockers', schema=None) as batch_op:
        batch_op.create_index('uq_lockers_wire_in_service', ['board', 'channel'], unique=True, sqlite_where=sa.text('retired_at IS NULL'), postgresql_where=sa.text('retired_at IS NULL'))

    op.create_table('staff',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('pin_hash', sa.String(length=256), nullable=False),
    sa.Column('failed_attempts', sa.Integer(), nullable=False),
    sa.Column('locked_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_staff')),
    sa.UniqueConstraint('name', name=op.f('uq_staff_name'))
    )
    op.create_table('rentals',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('locker_id', sa.Integer(), nullable=False),
    sa.Column('state', sa.Enum('active', 'ended', 'expired', 'voided', name='rental_state', native_enum=False, create_constraint=True, length=16), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ends_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('close_reason', sa.Text(), nullable=True),
    sa.Column('consent_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('model_version', sa.String(length=64), nullable=False),
    sa.Column('kiosk_id', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['locker_id'], ['lockers.id'], name=op.f('fk_rentals_locker_id_lockers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_rentals'))
    )
    with op.batch_alter_table('rentals', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_rentals_locker_id'), ['locker_id'], unique=False)
        batch_op.create_index('ix_rentals_state', ['state'], unique=False)
        batch_op.create_index('uq_rentals_one_active_per_locker', ['locker_id'], unique=True, sqlite_where=sa.text("state = 'active'"), postgresql_where=sa.text("state = 'active'"))

    op.create_table('face_templates',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('rental_id', sa.Integer(), nullable=False),
    sa.Column('ciphertext', sa.LargeBinary(), nullable=False),
    sa.Column('model_version', sa.String(length=64), nullable=False),
    sa.Column('quality', sa.Float(), nullable=True),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.ForeignKeyConstraint(['rental_id'], ['rentals.id'], name=op.f('fk_face_templates_rental_id_rentals')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_face_templates'))
    )
    with op.batch_alter_table('face_templates', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_face_templates_rental_id'), ['rental_id'], unique=False)

    op.create_table('unlock_requests',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('locker_id', sa.Integer(), nullable=False),
    sa.Column('rental_id', sa.Integer(), nullable=True),
    sa.Column('purpose', sa.Enum('register', 'retrieve', 'force_open', name='unlock_purpose', native_enum=False, create_constraint=True, length=16), nullable=False),
    sa.Column('kiosk_id', sa.String(length=64), nullable=False),
    sa.Column('requested_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('outcome', sa.String(length=16), nullable=True),
    sa.Column('detail', sa.Text(), nullable=True),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['locker_id'], ['lockers.id'], name=op.f('fk_unlock_requests_locker_id_lockers')),
    sa.ForeignKeyConstraint(['rental_id'], ['rentals.id'], name=op.f('fk_unlock_requests_rental_id_rentals')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_unlock_requests'))
    )
    with op.batch_alter_table('unlock_requests', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_unlock_requests_locker_id'), ['locker_id'], unique=False)

    _create_audit_triggers()


_APPEND_ONLY = "audit_log is append-only"


def _create_audit_triggers() -> None:
    # The audit log is evidence: the database itself refuses to change or delete an entry.
    if op.get_bind().dialect.name == "sqlite":
        for event in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER audit_log_no_{event.lower()} BEFORE {event} ON audit_log "
                f"BEGIN SELECT RAISE(ABORT, '{_APPEND_ONLY}'); END"
            )
    else:
        op.execute(
            "CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS "
            f"$$ BEGIN RAISE EXCEPTION '{_APPEND_ONLY}'; END $$"
        )
        op.execute(
            "CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log "
            "FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()"
        )


def _drop_audit_triggers() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_update")
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_delete")
    else:
        op.execute("DROP TRIGGER IF EXISTS audit_log_append_only ON audit_log")
        op.execute("DROP FUNCTION IF EXISTS audit_log_append_only()")


def downgrade() -> None:
    _drop_audit_triggers()
    with op.batch_alter_table('unlock_requests', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_unlock_requests_locker_id'))

    op.drop_table('unlock_requests')
    with op.batch_alter_table('face_templates', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_face_templates_rental_id'))

    op.drop_table('face_templates')
    with op.batch_alter_table('rentals', schema=None) as batch_op:
        batch_op.drop_index('uq_rentals_one_active_per_locker', sqlite_where=sa.text("state = 'active'"), postgresql_where=sa.text("state = 'active'"))
        batch_op.drop_index('ix_rentals_state')
        batch_op.drop_index(batch_op.f('ix_rentals_locker_id'))

    op.drop_table('rentals')
    op.drop_table('staff')
    with op.batch_alter_table('lockers', schema=None) as batch_op:
        batch_op.drop_index('uq_lockers_wire_in_service', sqlite_where=sa.text('retired_at IS NULL'), postgresql_where=sa.text('retired_at IS NULL'))

    op.drop_table('lockers')
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_log_at'))
        batch_op.drop_index(batch_op.f('ix_audit_log_action'))

    op.drop_table('audit_log')
