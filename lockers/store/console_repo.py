"""Queries of the site console's accounts, sessions, API tokens and login throttle.

Secrets arrive here already hashed (the console hashes passwords with scrypt and session ids and
tokens with SHA-256); nothing here commits: the console owns its transaction boundaries.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from lockers.store.console_models import (
    AlertAck,
    ApiToken,
    ConsoleAccount,
    ConsoleSession,
    LoginThrottle,
    StaffRole,
)
from lockers.store.models import Staff


@dataclass(frozen=True)
class Member:
    """A staff member as the console sees them (no PIN hash, no password hash)."""

    staff_id: int
    name: str
    role: str
    has_password: bool
    kiosks: tuple[str, ...] | None  # None: every kiosk
    locked_until: datetime | None
    disabled: bool


def _member(staff: Staff, account: ConsoleAccount | None) -> Member:
    return Member(
        staff_id=staff.id,
        name=staff.name,
        role=staff.role,
        has_password=account is not None,
        kiosks=None if account is None or account.kiosks is None else tuple(account.kiosks),
        locked_until=None if account is None else account.locked_until,
        disabled=account is not None and account.disabled_at is not None,
    )


def members(session: Session) -> list[Member]:
    """Every staff member, by name, with their console account if they have one."""
    rows = session.execute(
        select(Staff, ConsoleAccount)
        .outerjoin(ConsoleAccount, ConsoleAccount.staff_id == Staff.id)
        .order_by(Staff.name)
    )
    return [_member(staff, account) for staff, account in rows]


def member(session: Session, name: str) -> Member | None:
    row = session.execute(
        select(Staff, ConsoleAccount)
        .outerjoin(ConsoleAccount, ConsoleAccount.staff_id == Staff.id)
        .where(Staff.name == name)
    ).first()
    return None if row is None else _member(row[0], row[1])


def account_for_login(session: Session, name: str) -> tuple[Staff, ConsoleAccount] | None:
    """The staff row and console account of ``name`` (locked for update), if both exist."""
    row = session.execute(
        select(Staff, ConsoleAccount)
        .join(ConsoleAccount, ConsoleAccount.staff_id == Staff.id)
        .where(Staff.name == name)
        .with_for_update()
    ).first()
    return None if row is None else (row[0], row[1])


def set_password(session: Session, staff_id: int, password_hash: str, now: datetime) -> None:
    """Create or replace a console password; clears the lockout and ends every session."""
    account = session.get(ConsoleAccount, staff_id)
    if account is None:
        session.add(
            ConsoleAccount(
                staff_id=staff_id,
                password_hash=password_hash,
                failed_attempts=0,
                password_set_at=now,
            )
        )
    else:
        account.password_hash = password_hash
        account.failed_attempts = 0
        account.locked_until = None
        account.password_set_at = now
    end_sessions_of(session, staff_id)
    session.flush()


def set_role(session: Session, staff_id: int, role: StaffRole) -> None:
    session.execute(update(Staff).where(Staff.id == staff_id).values(role=role.value))


def set_kiosks(session: Session, staff_id: int, kiosks: list[str] | None) -> None:
    session.execute(
        update(ConsoleAccount).where(ConsoleAccount.staff_id == staff_id).values(kiosks=kiosks)
    )


def set_disabled(session: Session, staff_id: int, disabled_at: datetime | None) -> None:
    """Disable (ending every session at once) or re-enable a console account."""
    session.execute(
        update(ConsoleAccount)
        .where(ConsoleAccount.staff_id == staff_id)
        .values(disabled_at=disabled_at, failed_attempts=0, locked_until=None)
    )
    if disabled_at is not None:
        end_sessions_of(session, staff_id)


# --- login throttling ---------------------------------------------------------------------


def address_locked_until(session: Session, address: str, now: datetime) -> datetime | None:
    row = session.get(LoginThrottle, address)
    if row is None or row.locked_until is None or row.locked_until <= now:
        return None
    return row.locked_until


def count_address_failure(
    session: Session, address: str, now: datetime, max_failures: int, lockout: timedelta
) -> bool:
    """One more failed login from ``address``; True when that locks the address."""
    row = session.get(LoginThrottle, address, with_for_update=True)
    if row is None:
        row = LoginThrottle(address=address, failures=0, last_failure_at=now)
        session.add(row)
    if row.locked_until is not None and row.locked_until <= now:
        row.failures, row.locked_until = 0, None  # the lockout served: start counting again
    row.failures += 1
    row.last_failure_at = now
    if row.failures >= max_failures:
        row.locked_until = now + lockout
    session.flush()
    return row.locked_until is not None


def count_account_failure(
    account: ConsoleAccount, now: datetime, max_failures: int, lockout: timedelta
) -> bool:
    """One more failed login for ``account``; True when that locks it (sessions end too)."""
    if account.locked_until is not None and account.locked_until <= now:
        account.failed_attempts, account.locked_until = 0, None
    account.failed_attempts += 1
    if account.failed_attempts >= max_failures:
        account.locked_until = now + lockout
        return True
    return False


def clear_failures(session: Session, account: ConsoleAccount, address: str) -> None:
    account.failed_attempts = 0
    account.locked_until = None
    session.execute(delete(LoginThrottle).where(LoginThrottle.address == address))


# --- sessions -----------------------------------------------------------------------------


def start_session(
    session: Session, id_hash: str, staff_id: int, csrf_token: str, address: str, now: datetime
) -> None:
    session.add(
        ConsoleSession(
            id_hash=id_hash,
            staff_id=staff_id,
            csrf_token=csrf_token,
            address=address[:64],
            created_at=now,
            last_seen_at=now,
        )
    )
    session.flush()


@dataclass(frozen=True)
class LiveSession:
    """A session that may act now: its member, CSRF token and last use."""

    id_hash: str
    member: Member
    csrf_token: str
    last_seen_at: datetime


def find_session(session: Session, id_hash: str) -> LiveSession | None:
    """The session, whatever its age; ``None`` if unknown (logged out, password changed)."""
    row = session.execute(
        select(ConsoleSession, Staff, ConsoleAccount)
        .join(Staff, Staff.id == ConsoleSession.staff_id)
        .join(ConsoleAccount, ConsoleAccount.staff_id == Staff.id)
        .where(ConsoleSession.id_hash == id_hash)
    ).first()
    if row is None:
        return None
    console_session, staff, account = row
    return LiveSession(
        console_session.id_hash,
        _member(staff, account),
        console_session.csrf_token,
        console_session.last_seen_at,
    )


def touch_session(session: Session, id_hash: str, now: datetime) -> None:
    session.execute(
        update(ConsoleSession).where(ConsoleSession.id_hash == id_hash).values(last_seen_at=now)
    )


def end_session(session: Session, id_hash: str) -> None:
    session.execute(delete(ConsoleSession).where(ConsoleSession.id_hash == id_hash))


def end_sessions_of(session: Session, staff_id: int) -> None:
    session.execute(delete(ConsoleSession).where(ConsoleSession.staff_id == staff_id))


def end_idle_sessions(session: Session, idle_since: datetime) -> int:
    """Delete sessions unused since ``idle_since``; returns how many."""
    result = session.execute(delete(ConsoleSession).where(ConsoleSession.last_seen_at < idle_since))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


# --- API tokens ---------------------------------------------------------------------------


@dataclass(frozen=True)
class TokenView:
    id: int
    staff: str
    role: str
    note: str | None
    created_at: datetime
    created_by: str
    expires_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None


def _token_view(token: ApiToken, staff_name: str) -> TokenView:
    return TokenView(
        token.id,
        staff_name,
        token.role,
        token.note,
        token.created_at,
        token.created_by,
        token.expires_at,
        token.revoked_at,
        token.last_used_at,
    )


def add_token(
    session: Session,
    *,
    token_hash: str,
    staff_id: int,
    role: StaffRole,
    note: str | None,
    now: datetime,
    created_by: str,
    expires_at: datetime,
) -> int:
    token = ApiToken(
        token_hash=token_hash,
        staff_id=staff_id,
        role=role.value,
        note=note,
        created_at=now,
        created_by=created_by,
        expires_at=expires_at,
    )
    session.add(token)
    session.flush()
    return token.id


def tokens(session: Session) -> list[TokenView]:
    rows = session.execute(
        select(ApiToken, Staff.name)
        .join(Staff, Staff.id == ApiToken.staff_id)
        .order_by(ApiToken.id.desc())
    )
    return [_token_view(token, name) for token, name in rows]


def find_token(session: Session, token_hash: str) -> tuple[TokenView, Member] | None:
    row = session.execute(
        select(ApiToken, Staff, ConsoleAccount)
        .join(Staff, Staff.id == ApiToken.staff_id)
        .outerjoin(ConsoleAccount, ConsoleAccount.staff_id == Staff.id)
        .where(ApiToken.token_hash == token_hash)
    ).first()
    if row is None:
        return None
    token, staff, account = row
    return _token_view(token, staff.name), _member(staff, account)


def mark_token_used(session: Session, token_id: int, now: datetime) -> None:
    session.execute(update(ApiToken).where(ApiToken.id == token_id).values(last_used_at=now))


def revoke_token(session: Session, token_id: int, now: datetime) -> bool:
    result = session.execute(
        update(ApiToken)
        .where(ApiToken.id == token_id, ApiToken.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


# --- alert acknowledgements ---------------------------------------------------------------


def acknowledged(session: Session, keys: list[str]) -> dict[str, tuple[str, datetime]]:
    """{key: (staff, at)} of the given alerts that were acknowledged."""
    if not keys:
        return {}
    rows = session.scalars(select(AlertAck).where(AlertAck.key.in_(keys)))
    return {ack.key: (ack.staff, ack.at) for ack in rows}


def acknowledge(session: Session, key: str, staff: str, now: datetime, note: str | None) -> bool:
    """Record the acknowledgement; False if it was already acknowledged."""
    if session.get(AlertAck, key) is not None:
        return False
    session.add(AlertAck(key=key, staff=staff, at=now, note=note))
    session.flush()
    return True
