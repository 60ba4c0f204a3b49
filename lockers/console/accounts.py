"""Console logins and account administration: one transaction per action, every step audited.

Failed logins count per account and per client address; ``console.login_max_failures`` of
either locks it for ``console.login_lockout_min`` (a locked account's sessions end at once).
The failure counts are committed before the refusal is raised, so they cannot be rolled back.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from lockers.config.console import ConsoleConfig
from lockers.console.passwords import (
    DUMMY_HASH,
    hash_password,
    new_secret,
    secret_hash,
    validate_password,
    verify_password,
)
from lockers.errors import LockersError
from lockers.store import audit, console_repo, staff_repo
from lockers.store.audit_values import AuditAction, AuditOutcome
from lockers.store.console_models import StaffRole
from lockers.store.db import Database, Session

GENERIC_REFUSAL = "wrong name or password"


class Unchanged:
    """Marks an account field :func:`change_account` leaves as it is."""


UNCHANGED = Unchanged()


class LoginRefused(LockersError):
    """A console login that did not succeed (the message is safe to show)."""


class AccountError(LockersError):
    """An account change that cannot be made (unknown member, bad role, bad expiry)."""


@dataclass(frozen=True)
class NewSession:
    session_id: str  # goes into the cookie, never stored
    csrf_token: str
    name: str


@dataclass(frozen=True)
class _Attempt:
    outcome: AuditOutcome
    message: str
    session: NewSession | None = None


def login(
    database: Database,
    config: ConsoleConfig,
    name: str,
    password: str,
    address: str,
    now: datetime,
) -> NewSession:
    """Check a console login and open a session.

    Raises:
        LoginRefused: wrong name or password, or the account or address is locked.
    """
    name = name.strip()
    with database.transaction() as session:
        attempt = _attempt(session, config, name, password, address, now)
        known = attempt.outcome != AuditOutcome.UNKNOWN_STAFF
        audit.append(
            session,
            at=now,
            actor=f"staff:{name}" if known else "console",
            action=AuditAction.STAFF_LOGIN,
            outcome=attempt.outcome,
            reason=f"console login from {address}",
        )
    if attempt.session is None:
        raise LoginRefused(attempt.message, hint="ask an admin if you are locked out")
    return attempt.session


def _attempt(
    session: Session,
    config: ConsoleConfig,
    name: str,
    password: str,
    address: str,
    now: datetime,
) -> _Attempt:
    lockout = timedelta(minutes=config.login_lockout_min)
    address_until = console_repo.address_locked_until(session, address, now)
    if address_until is not None:
        return _Attempt(AuditOutcome.LOCKED_OUT, _locked("this address", address_until))
    found = console_repo.account_for_login(session, name) if name else None
    if found is None or found[1].disabled_at is not None:
        verify_password(password, DUMMY_HASH)  # the same time as a wrong password
        console_repo.count_address_failure(
            session, address, now, config.login_max_failures, lockout
        )
        outcome = AuditOutcome.UNKNOWN_STAFF if found is None else AuditOutcome.DISABLED
        return _Attempt(outcome, GENERIC_REFUSAL)
    staff, account = found
    if account.locked_until is not None and account.locked_until > now:
        console_repo.count_address_failure(
            session, address, now, config.login_max_failures, lockout
        )
        return _Attempt(AuditOutcome.LOCKED_OUT, _locked("this account", account.locked_until))
    if not verify_password(password, account.password_hash):
        locked = console_repo.count_account_failure(
            account, now, config.login_max_failures, lockout
        )
        console_repo.count_address_failure(
            session, address, now, config.login_max_failures, lockout
        )
        if locked:
            console_repo.end_sessions_of(session, staff.id)
            return _Attempt(AuditOutcome.LOCKED_OUT, _locked("this account", account.locked_until))
        return _Attempt(AuditOutcome.WRONG_PASSWORD, GENERIC_REFUSAL)
    console_repo.clear_failures(session, account, address)
    new = NewSession(new_secret(), new_secret(), staff.name)
    console_repo.start_session(
        session, secret_hash(new.session_id), staff.id, new.csrf_token, address, now
    )
    return _Attempt(AuditOutcome.OK, "", new)


def _locked(what: str, until: datetime | None) -> str:
    when = "" if until is None else f" until {until:%H:%M}Z"
    return f"too many failed logins: {what} is locked{when}"


def logout(database: Database, session_hash: str, name: str, now: datetime) -> None:
    with database.transaction() as session:
        console_repo.end_session(session, session_hash)
        audit.append(
            session,
            at=now,
            actor=f"staff:{name}",
            action=AuditAction.STAFF_LOGOUT,
            outcome=AuditOutcome.OK,
            reason="console",
        )


def set_password(database: Database, name: str, password: str, actor: str, now: datetime) -> None:
    """Give ``name`` a console password (ends their sessions).

    Raises:
        PasswordRefused: under 10 characters. AccountError: no staff member ``name``.
    """
    validate_password(password)
    password_hash = hash_password(password)
    with database.transaction() as session:
        staff = staff_repo.find_staff(session, name)
        if staff is None:
            raise AccountError(
                f"there is no staff member {name!r}",
                hint="add them first: lockers admin add-staff NAME --role attendant",
            )
        console_repo.set_password(session, staff.id, password_hash, now)
        audit.append(
            session,
            at=now,
            actor=actor,
            action=AuditAction.CONSOLE_PASSWORD,
            outcome=AuditOutcome.CHANGED,
            reason=f"console password of {name} set",
        )


def parse_role(value: str) -> StaffRole:
    try:
        return StaffRole(value.strip().lower())
    except ValueError:
        choices = ", ".join(r.value for r in StaffRole)
        raise AccountError(f"role {value!r} is unknown", hint=f"use one of: {choices}") from None


def _member_or_refuse(session: Session, name: str) -> console_repo.Member:
    found = console_repo.member(session, name)
    if found is None:
        raise AccountError(f"there is no staff member {name!r}", hint="see the staff page")
    return found


def change_account(
    database: Database,
    name: str,
    actor: str,
    now: datetime,
    *,
    role: StaffRole | None = None,
    kiosks: list[str] | Unchanged | None = UNCHANGED,
    disabled: bool | None = None,
) -> None:
    """Change a member's role, kiosk scope (``None`` = every kiosk) or disable / re-enable their
    console account (disabling ends their sessions at once). Omitted: unchanged."""
    with database.transaction() as session:
        found = _member_or_refuse(session, name)
        changes: list[str] = []
        if role is not None:
            console_repo.set_role(session, found.staff_id, role)
            changes.append(f"role {found.role} -> {role.value}")
        if not isinstance(kiosks, Unchanged):
            console_repo.set_kiosks(session, found.staff_id, kiosks)
            changes.append("kiosks " + (", ".join(kiosks) if kiosks is not None else "all"))
        if disabled is not None:
            console_repo.set_disabled(session, found.staff_id, now if disabled else None)
            changes.append("disabled" if disabled else "enabled")
        audit.append(
            session,
            at=now,
            actor=actor,
            action=AuditAction.CONSOLE_ACCOUNT,
            outcome=AuditOutcome.CHANGED,
            reason=f"{name}: " + "; ".join(changes),
        )


def create_token(
    database: Database,
    name: str,
    role: StaffRole | None,
    expires_days: float,
    actor: str,
    now: datetime,
    note: str | None = None,
) -> str:
    """A new API token for staff member ``name`` (returned once, stored hashed).

    ``role`` defaults to the member's own and may not exceed it.

    Raises:
        AccountError: unknown member, a role above theirs, or an expiry not in (0, 3650] days.
    """
    if not 0 < expires_days <= 3650:
        raise AccountError(
            f"a token must expire within 1 to 3650 days, not {expires_days:g}",
            hint="--expires-days 90",
        )
    token = new_secret()
    with database.transaction() as session:
        found = _member_or_refuse(session, name)
        own = StaffRole.of_stored(found.role)
        wanted = role or own
        if not own.includes(wanted):
            raise AccountError(
                f"{name} is {own.value}: a token cannot be {wanted.value}",
                hint="change their role first, or create a token with a lower role",
            )
        token_id = console_repo.add_token(
            session,
            token_hash=secret_hash(token),
            staff_id=found.staff_id,
            role=wanted,
            note=note,
            now=now,
            created_by=actor,
            expires_at=now + timedelta(days=expires_days),
        )
        audit.append(
            session,
            at=now,
            actor=actor,
            action=AuditAction.API_TOKEN,
            outcome=AuditOutcome.CREATED,
            reason=f"token {token_id} for {name}, role {wanted.value}, {expires_days:g} days",
        )
    return token


def revoke_token(database: Database, token_id: int, actor: str, now: datetime) -> bool:
    with database.transaction() as session:
        revoked = console_repo.revoke_token(session, token_id, now)
        if revoked:
            audit.append(
                session,
                at=now,
                actor=actor,
                action=AuditAction.API_TOKEN,
                outcome=AuditOutcome.REVOKED,
                reason=f"token {token_id}",
            )
    return revoked
