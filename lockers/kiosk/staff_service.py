"""Staff actions: PIN login with lockout, force open, reset, out of service, overdue list,
audit export. Every action is audited with the staff member's name (never the PIN)."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from lockers.errors import LockersError
from lockers.hardware.board import LockAddress, LockBoard, UnlockOutcome
from lockers.kiosk.dto import AuditRow, LockerView, StaffActionResult, StaffEntry, StaffSession
from lockers.kiosk.errors import StaffActionRefused, StaffAuthError
from lockers.kiosk.pins import DUMMY_HASH, hash_pin, validate_pin, verify_pin
from lockers.kiosk.unlocking import Checkpoint, no_checkpoint, pulse
from lockers.store import audit, lockers_repo, rentals, staff_repo, unlocks
from lockers.store.db import Database, Session
from lockers.store.models import (
    DoorStateValue,
    Locker,
    LockerStatus,
    RentalState,
    UnlockPurpose,
    utcnow,
)

ROLES = ("staff", "admin")


@dataclass(frozen=True)
class LoginPolicy:
    """``max_failures`` wrong PINs in a row lock the account for ``lockout_s``, doubling with
    every further failure (at most ``max_lockout_s``); ``idle_logout_s`` of inactivity ends a
    session."""

    max_failures: int = 5
    lockout_s: float = 30.0
    max_lockout_s: float = 3600.0
    idle_logout_s: float = 120.0

    def lockout_for(self, failures: int) -> float:
        extra = failures - self.max_failures
        return 0.0 if extra < 0 else min(self.max_lockout_s, self.lockout_s * 2**extra)


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
    ) -> None:
        self._db = database
        self._board = board
        self.kiosk_id = kiosk_id
        self._policy = policy or LoginPolicy()
        self._clock = clock
        self._checkpoint = checkpoint
        self._sessions: dict[str, _Session] = {}

    # -- accounts and login ----------------------------------------------------------------

    def add_staff(self, name: str, pin: str, role: str = "staff", actor: str = "cli") -> None:
        """Create a staff member (PIN hashed with scrypt).

        Raises:
            StaffAuthError: the PIN is not 4-12 digits. StaffActionRefused: bad name or role.
            StaffExistsError: the name is taken.
        """
        name = name.strip()
        if not name or len(name) > 64:
            raise StaffActionRefused("a staff name must be 1 to 64 characters")
        if role not in ROLES:
            raise StaffActionRefused(f"role {role!r} is unknown", hint=f"use one of {ROLES}")
        validate_pin(pin)
        pin_hash = hash_pin(pin)
        now = self._clock()
        with self._db.transaction() as session:
            staff_repo.add_staff(session, name, role, pin_hash)
            audit.append(
                session,
                at=now,
                actor=actor,
                action="add_staff",
                outcome="ok",
                reason=f"{name} ({role})",
            )

    def directory(self) -> list[StaffEntry]:
        """Who can log in, for the name tiles of the login screen (no PIN, no role)."""
        with self._db.transaction() as session:
            return [StaffEntry(s.id, s.name) for s in staff_repo.list_staff(session)]

    def login(self, name: str, pin: str) -> StaffSession:
        """Check ``pin``; returns a session. Wrong PINs count towards a lockout.

        Raises:
            StaffAuthError: unknown name or wrong PIN (same message), or locked out
                (``retry_after_s`` says for how long).
        """
        now = self._clock()
        with self._db.transaction() as session:
            staff = staff_repo.find_staff(session, name)
            if staff is None:
                verify_pin(pin, DUMMY_HASH)
                audit.append(
                    session,
                    at=now,
                    actor=f"staff:{name[:64]}",
                    action="staff_login",
                    outcome="unknown_staff",
                )
                error: StaffAuthError | None = _wrong()
            elif staff.locked_until is not None and now < staff.locked_until:
                wait = (staff.locked_until - now).total_seconds()
                audit.append(
                    session,
                    at=now,
                    actor=f"staff:{staff.name}",
                    action="staff_login",
                    outcome="locked_out",
                    reason=f"{wait:.0f} s left",
                )
                error = _locked(wait)
            elif not verify_pin(pin, staff.pin_hash):
                staff.failed_attempts += 1
                lock_s = self._policy.lockout_for(staff.failed_attempts)
                staff.locked_until = now + timedelta(seconds=lock_s) if lock_s else None
                audit.append(
                    session,
                    at=now,
                    actor=f"staff:{staff.name}",
                    action="staff_login",
                    outcome="wrong_pin",
                    reason=f"failure {staff.failed_attempts}"
                    + (f"; locked for {lock_s:.0f} s" if lock_s else ""),
                )
                error = _locked(lock_s) if lock_s else _wrong()
            else:
                staff.failed_attempts, staff.locked_until = 0, None
                audit.append(
                    session, at=now, actor=f"staff:{staff.name}", action="staff_login", outcome="ok"
                )
                token = secrets.token_urlsafe(24)
                self._sessions[token] = _Session(staff.name, staff.role, now)
                return StaffSession(token, staff.name, staff.role)
        # Raised after the commit, so the failure count and the audit entry are kept.
        assert error is not None
        raise error

    def logout(self, who: StaffSession, reason: str = "logout") -> None:
        if self._sessions.pop(who.token, None) is not None:
            with self._db.transaction() as session:
                audit.append(
                    session,
                    at=self._clock(),
                    actor=f"staff:{who.staff_name}",
                    action="staff_logout",
                    outcome="ok",
                    reason=reason,
                )

    def is_logged_in(self, who: StaffSession) -> bool:
        try:
            self._require(who)
        except StaffAuthError:
            return False
        return True

    def _require(self, who: StaffSession) -> str:
        """The audit actor of a live session; refreshes its idle timer.

        Raises:
            StaffAuthError: not logged in, or logged out automatically after inactivity.
        """
        now = self._clock()
        live = self._sessions.get(who.token)
        if live is None:
            raise StaffAuthError("not logged in", hint="log in with your staff PIN")
        if (now - live.last_seen).total_seconds() > self._policy.idle_logout_s:
            self.logout(who, reason="auto-logout after inactivity")
            raise StaffAuthError(
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
                AuditRow(
                    e.at, e.actor, e.action, e.outcome, e.locker_label, e.rental_id, e.reason
                )
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

        Raises:
            StaffAuthError, StaffActionRefused (empty reason, no board), UnknownLockerError.
        """
        actor = self._require(who)
        reason = _need_reason(reason)
        if self._board is None:
            raise StaffActionRefused(
                "no lock board is connected to this command", hint="run it on the kiosk"
            )
        now = self._clock()
        with self._db.transaction() as session:
            # Wait for a registration that is claiming a locker right now (PostgreSQL; SQLite
            # serialises writers anyway), then see its intent.
            lockers_repo.serialise_registrations(session)
            locker = lockers_repo.get_locker(session, label)
            _refuse_while_registering(session, locker, now)
            rental = lockers_repo.active_rental_of(session, locker.id)
            lockers_repo.flag(session, locker, "opened by staff: reset it to put it back in use")
            intent = unlocks.request_unlock(
                session,
                locker,
                UnlockPurpose.FORCE_OPEN,
                now=now,
                kiosk_id=self.kiosk_id,
                rental_id=None if rental is None else rental.id,
            )
            audit.append(
                session,
                at=now,
                actor=actor,
                action="force_open",
                outcome="requested",
                locker_label=label,
                rental_id=intent.rental_id,
                reason=reason,
            )
            address, intent_id = LockAddress(locker.board, locker.channel), intent.id
        self._checkpoint("force_open:committed")
        result = pulse(self._board, address)
        now = self._clock()
        with self._db.transaction() as session:
            request = unlocks.finish_unlock(
                session, intent_id, result.outcome.value, result.detail, now
            )
            locker = lockers_repo.get_locker(session, label)
            locker.door_state = (
                DoorStateValue.OPEN
                if result.outcome is UnlockOutcome.OPENED
                else DoorStateValue.UNKNOWN
            )
            audit.append(
                session,
                at=now,
                actor=actor,
                action="force_open",
                outcome=result.outcome.value,
                locker_label=label,
                rental_id=request.rental_id,
                reason=result.detail or None,
            )
        return StaffActionResult(label, "force_open", result.outcome.value, result.detail)

    def reset(self, who: StaffSession, label: str, reason: str) -> StaffActionResult:
        """End the locker's rental (deleting its templates in the same transaction), clear its
        staff flag and make it available (unless out of service).

        Raises:
            StaffAuthError, StaffActionRefused (empty reason), UnknownLockerError.
        """
        actor = self._require(who)
        reason = _need_reason(reason)
        now = self._clock()
        with self._db.transaction() as session:
            locker = lockers_repo.get_locker(session, label)
            rental = lockers_repo.active_rental_of(session, locker.id)
            deleted = 0
            if rental is not None:
                deleted = rentals.close_rental(
                    session,
                    rental,
                    RentalState.ENDED,
                    now=now,
                    reason=f"staff reset by {who.staff_name}: {reason}",
                    free_locker=True,
                )
                self._checkpoint("reset:ended")
            if locker.status == LockerStatus.OCCUPIED:
                locker.status = LockerStatus.AVAILABLE
            locker.attention = None
            detail = (
                f"rental {rental.id} ended, {deleted} templates deleted"
                if rental is not None
                else "no active rental"
            )
            audit.append(
                session,
                at=now,
                actor=actor,
                action="reset",
                outcome="ok",
                locker_label=label,
                rental_id=None if rental is None else rental.id,
                reason=f"{reason} ({detail})",
            )
        self._checkpoint("reset:committed")
        return StaffActionResult(label, "reset", "ok", detail)

    def set_out_of_service(self, who: StaffSession, label: str, reason: str) -> StaffActionResult:
        """Take a locker out of allocation (an active rental in it stays retrievable by staff).

        Raises: StaffAuthError, StaffActionRefused (empty reason), UnknownLockerError.
        """
        actor = self._require(who)
        reason = _need_reason(reason)
        now = self._clock()
        with self._db.transaction() as session:
            locker = lockers_repo.get_locker(session, label)
            locker.status = LockerStatus.OUT_OF_SERVICE
            audit.append(
                session,
                at=now,
                actor=actor,
                action="out_of_service",
                outcome="ok",
                locker_label=label,
                reason=reason,
            )
        return StaffActionResult(label, "out_of_service", "ok")

    def back_in_service(self, who: StaffSession, label: str) -> StaffActionResult:
        """Return a locker to service: occupied if it still holds a rental, else available."""
        actor = self._require(who)
        now = self._clock()
        with self._db.transaction() as session:
            locker = lockers_repo.get_locker(session, label)
            if locker.status != LockerStatus.OUT_OF_SERVICE:
                raise StaffActionRefused(f"locker {label} is not out of service")
            rental = lockers_repo.active_rental_of(session, locker.id)
            locker.status = LockerStatus.AVAILABLE if rental is None else LockerStatus.OCCUPIED
            audit.append(
                session,
                at=now,
                actor=actor,
                action="back_in_service",
                outcome=locker.status.value,
                locker_label=label,
            )
        return StaffActionResult(label, "back_in_service", "ok")

    def export_audit(self, who: StaffSession, path: Path, since: datetime | None = None) -> int:
        """Write the audit log (from ``since``) to a CSV file; returns the row count. Audited.

        Raises:
            StaffAuthError; LockersError: the file cannot be written.
        """
        actor = self._require(who)
        return export_audit_csv(self._db, path, actor, self._clock(), since)


def export_audit_csv(
    database: Database, path: Path, actor: str, now: datetime, since: datetime | None = None
) -> int:
    """See :meth:`StaffService.export_audit` (also used by the CLI)."""
    tmp = path.with_name(path.name + ".partial")
    try:
        with database.transaction() as session:
            with tmp.open("w", newline="", encoding="utf-8") as out:
                count = audit.write_csv(audit.entries(session, since), out)
            audit.append(
                session,
                at=now,
                actor=actor,
                action="audit_export",
                outcome="ok",
                reason=f"{count} entries to {path.name}",
            )
        tmp.replace(path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise LockersError(
            f"cannot write the audit export {path}: {exc.strerror}",
            hint="choose a writable location with free space",
        ) from None
    return count


def list_lockers(database: Database, now: datetime) -> list[LockerView]:
    """Every locker in service with its active rental (if any)."""
    with database.transaction() as session:
        return [_view(session, locker, now) for locker in lockers_repo.list_lockers(session)]


def _view(session: Session, locker: Locker, now: datetime) -> LockerView:
    rental = lockers_repo.active_rental_of(session, locker.id)
    return LockerView(
        label=locker.label,
        size=locker.size.value,
        board=locker.board,
        channel=locker.channel,
        status=locker.status.value,
        door_state=locker.door_state.value,
        attention=locker.attention,
        rental_id=None if rental is None else rental.id,
        rental_started_at=None if rental is None else rental.started_at,
        rental_ends_at=None if rental is None else rental.ends_at,
        overdue=rental is not None and rental.ends_at <= now,
    )


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


REGISTER_IN_FLIGHT_S = 600.0
"""A registration's unlock intent younger than this is in flight (claimed, not yet pulsed and
recorded); an older one was left by a kiosk that died and has not restarted yet."""


def _refuse_while_registering(session: Session, locker: Locker, now: datetime) -> None:
    """Staff must not open a locker a kiosk is handing to a customer this very moment.

    Soak finding (issue 17): a registration claimed the locker, staff force-opened it, then the
    customer's door opened and they filled it; the reset that followed ended their rental with
    their belongings inside, and the next registration handed the locker to a stranger. The
    defined outcome: the force-open is refused (nothing opened, nothing flagged) while such an
    intent is pending; a moment later the locker is the customer's (occupied) or free again.

    Raises:
        StaffActionRefused: a registration's unlock of this locker is in flight.
    """
    for request in unlocks.pending_unlocks(session):
        if request.locker_id != locker.id or request.purpose is not UnlockPurpose.REGISTER:
            continue
        if (now - request.requested_at).total_seconds() < REGISTER_IN_FLIGHT_S:
            raise StaffActionRefused(
                f"locker {locker.label} is being opened for a customer's registration "
                f"on {request.kiosk_id} right now",
                hint="wait a moment and try again: the locker will then be theirs or free",
            )
