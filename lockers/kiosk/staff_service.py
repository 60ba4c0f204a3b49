"""Staff actions: PIN login with lockout, force open, reset, out of service, overdue list,
audit export. Every action is audited with the staff member's name (never the PIN).

Staff see every locker of the site; an action on this kiosk's bank runs here
(:class:`~lockers.kiosk.bank_actions.BankActions`), one on another bank is sent to the kiosk
that owns it as a site command and waited for (:mod:`lockers.kiosk.remote_staff`)."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from lockers.backoff import Backoff
from lockers.hardware.board import LockBoard
from lockers.kiosk.bank_actions import BankActions
from lockers.kiosk.dto import AuditRow, LockerView, StaffActionResult, StaffEntry, StaffSession
from lockers.kiosk.errors import StaffActionRefused, StaffAuthError, StaffSessionExpired
from lockers.kiosk.pin_secret import pin_secret_of
from lockers.kiosk.pins import DUMMY_HASH, hash_pin, is_keyed, validate_pin, verify_pin
from lockers.kiosk.remote_staff import send_and_wait
from lockers.kiosk.staff_views import export_audit_csv, list_lockers
from lockers.kiosk.unlocking import Checkpoint, no_checkpoint
from lockers.store import audit, staff_repo
from lockers.store.audit_values import AuditAction, AuditOutcome
from lockers.store.db import Database, Session
from lockers.store.models import CommandAction, Staff, utcnow

__all__ = ["ROLES", "LoginPolicy", "StaffService", "export_audit_csv", "list_lockers"]

ROLES = ("attendant", "manager", "admin")
# The role once called "staff" is today's attendant (migration 0003 renamed stored ones).
ROLE_ALIASES = {"staff": "attendant"}


@dataclass(frozen=True)
class LoginPolicy:
    """``max_failures`` wrong PINs in a row lock the account for ``lockout_s``, doubling with
    every further failure (at most ``max_lockout_s``); ``idle_logout_s`` of inactivity ends a
    session."""

    max_failures: int = 5
    lockout_s: float = 30.0
    max_lockout_s: float = 3600.0
    idle_logout_s: float = 120.0

    @property
    def lockout(self) -> Backoff:
        """The lockout rule: the first ``max_failures - 1`` wrong PINs cost nothing."""
        return Backoff(self.lockout_s, self.max_lockout_s, free=max(0, self.max_failures - 1))

    def lockout_for(self, failures: int) -> float:
        return self.lockout.wait_s(failures)


@dataclass
class _Session:
    staff_name: str
    role: str
    last_seen: datetime


class StaffService:
    """Staff actions for the UI and the CLI. Not thread-safe (one per kiosk process)."""

    def __init__(
        self,
        database: Database,
        board: LockBoard | None,
        *,
        kiosk_id: str = "kiosk-1",
        policy: LoginPolicy | None = None,
        clock: Callable[[], datetime] = utcnow,
        checkpoint: Checkpoint = no_checkpoint,
        pin_secret: bytes | None = None,
        command_ttl_s: float = 30.0,
        remote_wait_s: float | None = None,
    ) -> None:
        self._db = database
        self.kiosk_id = kiosk_id
        # Staff actions on this kiosk's bank; other banks' lockers go to their kiosk as commands
        # that expire after ``command_ttl_s`` (``site.command_ttl_s``) unless picked up.
        self._bank = BankActions(database, board, kiosk_id, clock, checkpoint)
        self._command_ttl_s = command_ttl_s
        # How long a remote action waits for its result (None: until it ends or expires). The
        # kiosk's screen waits briefly: its service thread also serves customers.
        self._remote_wait_s = remote_wait_s
        self._policy = policy or LoginPolicy()
        self._clock = clock
        self._checkpoint = checkpoint
        self._pin_secret = pin_secret
        self._sessions: dict[str, _Session] = {}

    def _secret(self) -> bytes:
        """The site's PIN secret: given, or the one the store was opened with."""
        return self._pin_secret if self._pin_secret is not None else pin_secret_of(self._db)

    # -- accounts and login ----------------------------------------------------------------

    def add_staff(self, name: str, pin: str, role: str = "attendant", actor: str = "cli") -> None:
        """Create a staff member (PIN hashed with scrypt, keyed with the site's PIN secret).

        Raises:
            StaffAuthError: the PIN is not 4-12 digits. StaffActionRefused: bad name or role.
            StaffExistsError: the name is taken. PinSecretError: no PIN secret is loaded.
        """
        name = name.strip()
        if not name or len(name) > 64:
            raise StaffActionRefused("a staff name must be 1 to 64 characters")
        role = ROLE_ALIASES.get(role, role)
        if role not in ROLES:
            raise StaffActionRefused(f"role {role!r} is unknown", hint=f"use one of {ROLES}")
        validate_pin(pin)
        pin_hash = hash_pin(pin, self._secret())
        now = self._clock()
        with self._db.transaction() as session:
            staff_repo.add_staff(session, name, role, pin_hash)
            trail = audit.Writer(session, now, actor)
            trail.add(AuditAction.ADD_STAFF, AuditOutcome.OK, reason=f"{name} ({role})")

    def directory(self) -> list[StaffEntry]:
        """Who can log in, for the name tiles of the login screen (no PIN, no role)."""
        with self._db.transaction() as session:
            return [StaffEntry(s.id, s.name) for s in staff_repo.list_staff(session)]

    def login(self, name: str, pin: str) -> StaffSession:
        """Check ``pin``; returns a session. Wrong PINs count towards a lockout. A PIN hash made
        before the site's PIN secret is re-keyed with it on success.

        Raises:
            StaffAuthError: unknown name or wrong PIN (same message), or locked out
                (``retry_after_s`` says for how long).
        """
        now = self._clock()
        secret = self._secret()
        with self._db.transaction() as session:
            staff = staff_repo.find_staff(session, name)
            if staff is None:
                verify_pin(pin, DUMMY_HASH, secret)
                self._audit_login(session, name[:64], AuditOutcome.UNKNOWN_STAFF, None, now)
                error = _wrong()
            elif staff.locked_until is not None and now < staff.locked_until:
                wait = (staff.locked_until - now).total_seconds()
                reason = f"{wait:.0f} s left"
                self._audit_login(session, staff.name, AuditOutcome.LOCKED_OUT, reason, now)
                error = _locked(wait)
            elif not verify_pin(pin, staff.pin_hash, secret):
                error = self._wrong_pin(session, staff, now)
            else:
                staff.failed_attempts, staff.locked_until = 0, None
                if not is_keyed(staff.pin_hash):
                    staff.pin_hash = hash_pin(pin, secret)  # re-keyed with the site secret
                self._audit_login(session, staff.name, AuditOutcome.OK, None, now)
                token = secrets.token_urlsafe(24)
                self._sessions[token] = _Session(staff.name, staff.role, now)
                return StaffSession(token, staff.name, staff.role)
        # Raised after the commit, so the failure count and the audit entry are kept.
        raise error

    def _wrong_pin(self, session: Session, staff: Staff, now: datetime) -> StaffAuthError:
        staff.failed_attempts += 1
        lock_s = self._policy.lockout_for(staff.failed_attempts)
        staff.locked_until = now + timedelta(seconds=lock_s) if lock_s else None
        reason = f"failure {staff.failed_attempts}" + (
            f"; locked for {lock_s:.0f} s" if lock_s else ""
        )
        self._audit_login(session, staff.name, AuditOutcome.WRONG_PIN, reason, now)
        return _locked(lock_s) if lock_s else _wrong()

    @staticmethod
    def _audit_login(
        session: Session, name: str, outcome: AuditOutcome, reason: str | None, now: datetime
    ) -> None:
        audit.Writer(session, now, f"staff:{name}").add(
            AuditAction.STAFF_LOGIN, outcome, reason=reason
        )

    def logout(self, who: StaffSession, reason: str = "logout") -> None:
        if self._sessions.pop(who.token, None) is not None:
            with self._db.transaction() as session:
                trail = audit.Writer(session, self._clock(), f"staff:{who.staff_name}")
                trail.add(AuditAction.STAFF_LOGOUT, AuditOutcome.OK, reason=reason)

    def is_logged_in(self, who: StaffSession) -> bool:
        try:
            self._require(who)
        except StaffSessionExpired:
            return False
        return True

    def _require(self, who: StaffSession) -> str:
        """The audit actor of a live session; refreshes its idle timer.

        Raises:
            StaffSessionExpired: not logged in (logged out, or elsewhere), or logged out
                automatically after inactivity.
        """
        now = self._clock()
        live = self._sessions.get(who.token)
        if live is None:
            raise StaffSessionExpired("not logged in", hint="log in with your staff PIN")
        if (now - live.last_seen).total_seconds() > self._policy.idle_logout_s:
            self.logout(who, reason="auto-logout after inactivity")
            raise StaffSessionExpired(
                "logged out after inactivity", hint="log in again with your staff PIN"
            )
        live.last_seen = now
        return f"staff:{live.staff_name}"

    # -- locker actions --------------------------------------------------------------------

    def lockers(self, who: StaffSession) -> list[LockerView]:
        self._require(who)
        return list_lockers(self._db, self._clock())

    def audit_log(
        self,
        who: StaffSession,
        *,
        action: str | None = None,
        locker_label: str | None = None,
        limit: int = 200,
    ) -> list[AuditRow]:
        """The newest audit entries, newest first, filtered by action and/or locker."""
        self._require(who)
        with self._db.transaction() as session:
            return [
                AuditRow(e.at, e.actor, e.action, e.outcome, e.locker_label, e.rental_id, e.reason)
                for e in audit.recent(
                    session, action=action, locker_label=locker_label, limit=limit
                )
            ]

    def overdue(self, who: StaffSession) -> list[LockerView]:
        """Lockers whose active rental is past its end time, most overdue first."""
        self._require(who)
        now = self._clock()
        views = [v for v in list_lockers(self._db, now) if v.overdue]
        return sorted(views, key=lambda v: v.rental_ends_at or now)

    def force_open(self, who: StaffSession, label: str, reason: str) -> StaffActionResult:
        """Open a door without ending its rental (e.g. to check it). Audited.

        The locker is flagged for staff in the same transaction that records the unlock intent,
        so that no kiosk hands it out while staff have it open: otherwise a customer could be
        given this (open, available) locker, and the :meth:`reset` that follows would end their
        new rental with their belongings inside. :meth:`reset` clears the flag.

        A locker of another kiosk's bank is opened by that kiosk: the action becomes a site
        command and this call waits for its result (see :meth:`_on_owner`).

        Raises:
            StaffAuthError, StaffActionRefused (empty reason, no board, unknown kiosk),
            UnknownLockerError.
        """
        actor = self._require(who)
        reason = _need_reason(reason)
        return self._on_owner(
            who,
            CommandAction.OPEN,
            label,
            reason,
            lambda: self._bank.force_open(actor, label, reason),
        )

    def reset(self, who: StaffSession, label: str, reason: str) -> StaffActionResult:
        """End the locker's rental (deleting its templates in the same transaction), clear its
        staff flag and make it available (unless out of service). Another bank's locker: a
        site command to its kiosk, waited for.

        Raises:
            StaffAuthError, StaffActionRefused (empty reason, unknown kiosk), UnknownLockerError.
        """
        actor = self._require(who)
        reason = _need_reason(reason)
        return self._on_owner(
            who,
            CommandAction.RESET,
            label,
            reason,
            lambda: self._bank.reset(actor, who.staff_name, label, reason),
        )

    def set_out_of_service(self, who: StaffSession, label: str, reason: str) -> StaffActionResult:
        """Take a locker out of allocation (an active rental in it stays retrievable by staff).

        Raises: StaffAuthError, StaffActionRefused (empty reason), UnknownLockerError.
        """
        actor = self._require(who)
        reason = _need_reason(reason)
        return self._on_owner(
            who,
            CommandAction.OUT_OF_SERVICE,
            label,
            reason,
            lambda: self._bank.out_of_service(actor, label, reason),
        )

    def back_in_service(
        self, who: StaffSession, label: str, reason: str = "back in service"
    ) -> StaffActionResult:
        """Return a locker to service: occupied if it still holds a rental, else available."""
        actor = self._require(who)
        return self._on_owner(
            who,
            CommandAction.BACK_IN_SERVICE,
            label,
            reason,
            lambda: self._bank.back_in_service(actor, label),
        )

    def _on_owner(
        self,
        who: StaffSession,
        action: CommandAction,
        label: str,
        reason: str,
        here: Callable[[], StaffActionResult],
    ) -> StaffActionResult:
        """Run ``here`` when ``label`` is in this kiosk's bank; otherwise send the action to the
        kiosk that owns it and wait for the result (up to ``command_ttl_s`` + a margin: call it
        off the UI thread). Its ``detail`` says "sent to <kiosk>: <result>"."""
        owner = self._bank.owner_of(label)
        if owner == self.kiosk_id:
            return here()
        return send_and_wait(
            self._db,
            owner=owner,
            action=action,
            label=label,
            staff=who.staff_name,
            reason=reason,
            source=self.kiosk_id,
            ttl_s=self._command_ttl_s,
            clock=self._clock,
            wait_s=self._remote_wait_s,
        )

    def export_audit(self, who: StaffSession, path: Path, since: datetime | None = None) -> int:
        """Write the audit log (from ``since``) to a CSV file; returns the row count. Audited.

        Raises:
            StaffAuthError; LockersError: the file cannot be written.
        """
        actor = self._require(who)
        return export_audit_csv(self._db, path, actor, self._clock(), since)


def _need_reason(reason: str) -> str:
    reason = reason.strip()
    if not reason:
        raise StaffActionRefused(
            "a reason is required for this action", hint="say why, for the audit log"
        )
    return reason


def _wrong() -> StaffAuthError:
    return StaffAuthError("wrong staff name or PIN", hint="try again; 5 failures lock the account")


def _locked(wait_s: float) -> StaffAuthError:
    return StaffAuthError(
        f"this staff account is locked for {wait_s:.0f} s after repeated wrong PINs",
        hint="wait, or ask an administrator",
        retry_after_s=wait_s,
    )
