"""The ORM models (SQLAlchemy 2.0 typed declarative) and the enums stored in them.

Every constraint is named through ``NAMING_CONVENTION`` so that Alembic's SQLite batch mode can
drop and recreate them, and so that the schema is identical on SQLite and PostgreSQL.
Times are timezone-aware UTC in Python, whatever the database stores.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    DateTime,
    Dialect,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAMING_CONVENTION: dict[str, str] = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UtcDateTime(TypeDecorator[datetime]):
    """A ``DateTime(timezone=True)`` that refuses naive values and always returns aware UTC.

    SQLite has no time zones and hands back naive datetimes; normalising here means code never
    compares naive with aware times.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: store times as aware UTC")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"a UtcDateTime column returned {type(value).__name__}, not datetime")
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def utcnow() -> datetime:
    """The current time, aware UTC."""
    return datetime.now(UTC)


class LockerStatus(StrEnum):
    AVAILABLE = "available"
    OCCUPIED = "occupied"
    OUT_OF_SERVICE = "out_of_service"


class LockerSize(StrEnum):
    S = "S"
    M = "M"
    L = "L"


class RentalState(StrEnum):
    ACTIVE = "active"  # belongings inside, templates kept (also while overdue)
    ENDED = "ended"  # retrieved by face or reset by staff
    EXPIRED = "expired"  # nobody came back within ends_at + retention; templates deleted
    VOIDED = "voided"  # never took effect (the door was provably never told to open)


class UnlockPurpose(StrEnum):
    REGISTER = "register"
    RETRIEVE = "retrieve"
    FORCE_OPEN = "force_open"


class DoorStateValue(StrEnum):
    """Mirror of ``lockers.hardware.board.DoorState`` (store may not import hardware)."""

    OPEN = "open"
    CLOSED = "closed"
    UNKNOWN = "unknown"


def _enum(cls: type[StrEnum], name: str) -> Enum:
    # VARCHAR + named CHECK on both databases: no native PostgreSQL ENUM types to migrate.
    return Enum(
        cls,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=16,
        values_callable=lambda members: [m.value for m in members],
        validate_strings=True,
    )


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Locker(Base):
    """One physical locker, created from ``config.yaml``; never deleted once it held a rental.

    It belongs to one kiosk's bank (``kiosk_id``): only that kiosk drives its board, so
    (kiosk, board, channel) is unique while the label is unique across the whole site.
    """

    __tablename__ = "lockers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    label: Mapped[str] = mapped_column(String(16), unique=True)
    # No default: every writer must say whose bank a locker is in. (SQLite databases carry the
    # migration's DEFAULT in their DDL, since SQLite cannot add a NOT NULL column without one.)
    kiosk_id: Mapped[str] = mapped_column(String(64), index=True)
    size: Mapped[LockerSize] = mapped_column(_enum(LockerSize, "locker_size"))
    board: Mapped[int] = mapped_column(Integer)
    channel: Mapped[int] = mapped_column(Integer)
    status: Mapped[LockerStatus] = mapped_column(
        _enum(LockerStatus, "locker_status"), default=LockerStatus.AVAILABLE
    )
    door_state: Mapped[DoorStateValue] = mapped_column(
        _enum(DoorStateValue, "door_state"), default=DoorStateValue.UNKNOWN
    )
    # Set when staff must look at the locker (jammed door, expired rental, interrupted unlock).
    attention: Mapped[str | None] = mapped_column(Text, default=None)
    # Removed from config.yaml: kept for the history of its rentals, hidden everywhere else.
    retired_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)

    rentals: Mapped[list[Rental]] = relationship(back_populates="locker")

    __table_args__ = (
        # Two lockers in service of one kiosk can never share a lock wire; a retired one may, and
        # so may two kiosks (each has its own board 0).
        Index(
            "uq_lockers_wire_in_service",
            "kiosk_id",
            "board",
            "channel",
            unique=True,
            sqlite_where=text("retired_at IS NULL"),
            postgresql_where=text("retired_at IS NULL"),
        ),
        CheckConstraint("channel >= 1", name="channel_positive"),
    )


class Rental(Base):
    """One use of one locker by one face."""

    __tablename__ = "rentals"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    locker_id: Mapped[int] = mapped_column(ForeignKey("lockers.id"), index=True)
    state: Mapped[RentalState] = mapped_column(
        _enum(RentalState, "rental_state"), default=RentalState.ACTIVE
    )
    started_at: Mapped[datetime] = mapped_column(UtcDateTime)
    ends_at: Mapped[datetime] = mapped_column(UtcDateTime)  # overdue after this
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)  # templates deleted after this
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    close_reason: Mapped[str | None] = mapped_column(Text, default=None)
    consent_at: Mapped[datetime] = mapped_column(UtcDateTime)
    model_version: Mapped[str] = mapped_column(String(64))
    kiosk_id: Mapped[str] = mapped_column(String(64))
    # Written by the database's triggers only (migration 0006), never by the code: the value of
    # RentalChangeCounter when the rental was created, changed state or had templates added or
    # deleted. NULL for rentals not touched since before 0006.
    change_seq: Mapped[int | None] = mapped_column(BigInteger, default=None, index=True)

    locker: Mapped[Locker] = relationship(back_populates="rentals")
    templates: Mapped[list[FaceTemplate]] = relationship(back_populates="rental")

    __table_args__ = (
        # The database itself guarantees one active rental per locker, whatever the code does.
        Index(
            "uq_rentals_one_active_per_locker",
            "locker_id",
            unique=True,
            sqlite_where=text("state = 'active'"),
            postgresql_where=text("state = 'active'"),
        ),
        Index("ix_rentals_state", "state"),
    )


class RentalChangeCounter(Base):
    """One row (``id = 1``): the site's rental change counter, bumped by the database's triggers
    whenever a rental starts, changes state or has templates added or deleted (migration 0006).
    A kiosk's gallery reads only the rentals stamped above the value it last saw."""

    __tablename__ = "rental_change_counter"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger)


class FaceTemplate(Base):
    """One enrolled embedding, AES-GCM encrypted (``nonce || ciphertext+tag``)."""

    __tablename__ = "face_templates"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    rental_id: Mapped[int] = mapped_column(ForeignKey("rentals.id"), index=True)
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    model_version: Mapped[str] = mapped_column(String(64))
    quality: Mapped[float | None] = mapped_column(Float, default=None)
    kind: Mapped[str] = mapped_column(String(16), default="embedding")  # or "image" (opt-in)

    rental: Mapped[Rental] = relationship(back_populates="templates")


class Staff(Base):
    """A staff member who can log in with a PIN (never stored: only its scrypt hash)."""

    __tablename__ = "staff"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16), default="attendant")  # console_models.StaffRole
    pin_hash: Mapped[str] = mapped_column(String(256))
    failed_attempts: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class UnlockRequest(Base):
    """The intent to open a door, committed before the board is told; the outcome comes after.

    A row whose ``outcome`` is still NULL at start-up means a process died between the two.
    """

    __tablename__ = "unlock_requests"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    locker_id: Mapped[int] = mapped_column(ForeignKey("lockers.id"), index=True)
    rental_id: Mapped[int | None] = mapped_column(ForeignKey("rentals.id"), default=None)
    purpose: Mapped[UnlockPurpose] = mapped_column(_enum(UnlockPurpose, "unlock_purpose"))
    kiosk_id: Mapped[str] = mapped_column(String(64))
    requested_at: Mapped[datetime] = mapped_column(UtcDateTime)
    outcome: Mapped[str | None] = mapped_column(String(16), default=None)
    detail: Mapped[str | None] = mapped_column(Text, default=None)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)


class AuditEntry(Base):
    """Append-only (database triggers refuse UPDATE and DELETE). Plain ids, no foreign keys, so
    the log outlives what it talks about."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    actor: Mapped[str] = mapped_column(String(96))  # "kiosk:<id>", "staff:<name>", "cli"
    action: Mapped[str] = mapped_column(String(32), index=True)
    locker_label: Mapped[str | None] = mapped_column(String(16), default=None)
    rental_id: Mapped[int | None] = mapped_column(Integer, default=None)
    score: Mapped[float | None] = mapped_column(Float, default=None)
    outcome: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str | None] = mapped_column(Text, default=None)


class CommandAction(StrEnum):
    """What staff at one kiosk (or the console/CLI) ask the kiosk that owns a locker to do."""

    OPEN = "open"
    RESET = "reset"
    OUT_OF_SERVICE = "out_of_service"
    BACK_IN_SERVICE = "back_in_service"


class CommandResult(StrEnum):
    """How a site command ended (``site_commands.result``)."""

    OPENED = "opened"
    JAMMED = "jammed"  # pulsed, the door did not report open: flagged for staff
    NO_ANSWER = "no_answer"  # the board did not answer: flagged for staff
    UNCONFIRMED = "unconfirmed"  # pulsed, no door feedback to confirm it
    REFUSED = "refused"  # the owning kiosk would not do it (detail says why)
    DONE = "done"  # reset / out of service / back in service carried out
    EXPIRED = "expired"  # nobody claimed it within its time to live: never executed
    INTERRUPTED = "interrupted"  # its executor died after claiming it: ran at most once


class Kiosk(Base):
    """One kiosk of the site, as it last reported itself (registry and heartbeat)."""

    __tablename__ = "kiosks"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # database.kiosk_id
    display_name: Mapped[str] = mapped_column(String(64))
    location: Mapped[str | None] = mapped_column(Text, default=None)
    version: Mapped[str] = mapped_column(String(32))
    model_version: Mapped[str | None] = mapped_column(String(64), default=None)
    failed_checks: Mapped[list[str]] = mapped_column(JSON, default=list)
    free_lockers: Mapped[int | None] = mapped_column(Integer, default=None)
    # Retrieve recognition latencies since the process started, as
    # lockers.store.latency.HistogramSnapshot.as_json writes them (None until its first beat).
    recognition_latency: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    # The kiosk's own beat interval: it is offline after 3 of them without a beat.
    heartbeat_s: Mapped[float] = mapped_column(Float)
    started_at: Mapped[datetime] = mapped_column(UtcDateTime)
    last_beat_at: Mapped[datetime] = mapped_column(UtcDateTime)
    stopped_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    # A fresh random token per process: tells a restart of this kiosk from a second kiosk that
    # was given the same kiosk_id by mistake.
    instance: Mapped[str] = mapped_column(String(64))


class SiteCommand(Base):
    """A staff action for a locker of another kiosk's bank, executed by that kiosk at most once.

    Life: sent (``created_at``, ``expires_at``) → claimed by one process of the owning kiosk
    (``claimed_at``, ``claimed_by``) → finished (``finished_at``, ``result``); or, unclaimed past
    ``expires_at``, finished as ``expired`` without ever being claimed.
    """

    __tablename__ = "site_commands"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kiosk_id: Mapped[str] = mapped_column(ForeignKey("kiosks.id"))  # the owning (target) kiosk
    action: Mapped[CommandAction] = mapped_column(_enum(CommandAction, "command_action"))
    locker_label: Mapped[str] = mapped_column(String(16))
    staff: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(64))  # the sending kiosk's id, "console" or "cli"
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    claimed_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    claimed_by: Mapped[str | None] = mapped_column(String(64), default=None)  # Kiosk.instance
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    result: Mapped[str | None] = mapped_column(String(16), default=None)  # CommandResult
    detail: Mapped[str | None] = mapped_column(Text, default=None)

    __table_args__ = (Index("ix_site_commands_pending", "kiosk_id", "finished_at"),)


# The console's tables (lockers.store.console_models) share this Base: importing them here keeps
# Base.metadata complete (migrations, schema checks) whichever module is imported first.
from lockers.store import console_models as _console_models  # noqa: E402, F401
