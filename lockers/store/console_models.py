"""Tables of the site console: staff passwords and roles, browser sessions, API tokens, login
throttling. On the same declarative ``Base`` as the kiosk's tables (one schema, one migration
chain). Secrets are stored only as hashes: passwords with scrypt, session ids and API tokens
(random 256-bit values, so a plain SHA-256 is enough) as SHA-256 hex digests.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import JSON, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from lockers.store.models import Base, UtcDateTime


class StaffRole(StrEnum):
    """What a staff member may do, each level including the ones before it.

    attendant: view, open a locker with a reason; manager: also reset, out of service / back in
    service, release overdue, export the audit log, acknowledge alerts; admin: also staff
    accounts and API tokens. The kiosk's former ``staff`` role became ``attendant`` (migration).
    """

    ATTENDANT = "attendant"
    MANAGER = "manager"
    ADMIN = "admin"

    @property
    def level(self) -> int:
        return _LEVELS[self]

    def includes(self, other: StaffRole) -> bool:
        return self.level >= other.level

    @classmethod
    def of_stored(cls, value: str) -> StaffRole:
        """A role read from ``staff.role``; anything unknown (a kiosk's pre-migration
        ``staff``) counts as the least: attendant."""
        try:
            return cls(value)
        except ValueError:
            return cls.ATTENDANT


_LEVELS = {StaffRole.ATTENDANT: 1, StaffRole.MANAGER: 2, StaffRole.ADMIN: 3}


class ConsoleAccount(Base):
    """A staff member's console login (the role stays on ``staff.role``)."""

    __tablename__ = "console_accounts"

    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id"), primary_key=True)
    password_hash: Mapped[str] = mapped_column(String(256))
    # None: every kiosk of the site; else the kiosk ids this member may act on.
    kiosks: Mapped[list[str] | None] = mapped_column(JSON, default=None)
    failed_attempts: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    disabled_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    password_set_at: Mapped[datetime] = mapped_column(UtcDateTime)


class ConsoleSession(Base):
    """A logged-in browser. The cookie holds the opaque id; only its SHA-256 is stored here, so
    a copy of the database logs nobody in."""

    __tablename__ = "console_sessions"

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    address: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UtcDateTime)


class ApiToken(Base):
    """A bearer token for the REST API and /metrics, created by an admin for a staff member."""

    __tablename__ = "console_api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id"), index=True)
    role: Mapped[str] = mapped_column(String(16))  # never above the staff member's own role
    note: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    created_by: Mapped[str] = mapped_column(String(96))
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    last_used_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)


class LoginThrottle(Base):
    """Failed console logins per client address (per account lives on the account)."""

    __tablename__ = "console_login_throttle"

    address: Mapped[str] = mapped_column(String(64), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    last_failure_at: Mapped[datetime] = mapped_column(UtcDateTime)
    locked_until: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)


class AlertAck(Base):
    """An alert acknowledged by a named staff member. Alerts are derived from the site's state
    (lockers.console.alerts); each has a stable key naming what and since when, so a new
    occurrence is a new alert."""

    __tablename__ = "console_alert_acks"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    staff: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    note: Mapped[str | None] = mapped_column(Text, default=None)
