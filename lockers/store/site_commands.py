"""Staff commands for a locker of another kiosk's bank: sent, claimed once, finished or expired.

Only the kiosk that owns a locker drives its board, so staff at another kiosk (or the console,
or the CLI) leave a row in ``site_commands`` for it. The owning kiosk claims it with a
conditional UPDATE (``... WHERE claimed_at IS NULL``, checked by rowcount; on PostgreSQL the
candidates are also read ``FOR UPDATE SKIP LOCKED``), so however many of its processes race, a
command runs **at most once**. A command not claimed by ``expires_at`` is finished as
``expired`` and never handed out again, even to a kiosk that comes back online later. Times come
from the callers' clocks: the kiosks of a site must keep them in sync (NTP).

Every step is audited with the staff member and both kiosk ids.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from lockers.errors import StoreError
from lockers.store import audit
from lockers.store.audit_values import AuditAction, AuditOutcome
from lockers.store.models import CommandAction, CommandResult, Kiosk, Locker, SiteCommand
from lockers.store.site import KioskReplacedError

COMMANDS_CHANNEL = "lockers_site_commands"  # NOTIFY payload: the target kiosk's id
RESULTS_CHANNEL = "lockers_site_results"  # NOTIFY payload: the finished command's id
SOURCE_CONSOLE = "console"
SOURCE_CLI = "cli"


class UnknownKioskError(StoreError):
    """No kiosk with that id ever started on this database."""


class NotInBankError(StoreError):
    """The locker is not in the target kiosk's bank."""


class CommandStateError(StoreError):
    """A command cannot be finished by this caller (not claimed by it, or already finished)."""


def describe(command: SiteCommand) -> str:
    """One line for the audit log: what, which locker, who asked, from where, to whom, why."""
    return (
        f"command {command.id}: {command.action.value} locker {command.locker_label} by staff "
        f"{command.staff} from {command.source} to kiosk {command.kiosk_id}: {command.reason}"
    )


def notify_command(session: Session, kiosk_id: str) -> None:
    """Wake kiosk ``kiosk_id``'s listener when this transaction commits (PostgreSQL only)."""
    _notify(session, COMMANDS_CHANNEL, kiosk_id)


def _notify(session: Session, channel: str, payload: str) -> None:
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(func.pg_notify(channel, payload)))


def send_command(
    session: Session,
    *,
    kiosk_id: str,
    action: CommandAction | str,
    label: str,
    staff: str,
    reason: str,
    source: str,
    now: datetime,
    ttl_s: float,
) -> SiteCommand:
    """Queue ``action`` on locker ``label`` for kiosk ``kiosk_id``, which owns it.

    ``source`` is the sending kiosk's id, ``"console"`` or ``"cli"``. The command expires
    ``ttl_s`` after ``now`` unless claimed first.

    Raises:
        UnknownKioskError: no kiosk ``kiosk_id`` ever started on this database.
        NotInBankError: no locker in service ``label``, or it is another kiosk's.
        StoreError: an unknown action or an empty staff name.
    """
    try:
        command_action = CommandAction(action)
    except ValueError:
        choices = ", ".join(a.value for a in CommandAction)
        raise StoreError(f"unknown command {action!r}", hint=f"one of: {choices}") from None
    if not staff.strip():
        raise StoreError("a site command needs the staff member's name", hint="log in first")
    _require_kiosk(session, kiosk_id)
    _require_in_bank(session, kiosk_id, label)
    command = SiteCommand(
        kiosk_id=kiosk_id,
        action=command_action,
        locker_label=label,
        staff=staff.strip(),
        reason=reason,
        source=source,
        created_at=now,
        expires_at=now + timedelta(seconds=ttl_s),
    )
    session.add(command)
    session.flush()
    audit.append(
        session,
        at=now,
        actor=f"staff:{command.staff}",
        action=AuditAction.COMMAND_SENT,
        outcome=AuditOutcome.REQUESTED,
        locker_label=label,
        reason=describe(command),
    )
    notify_command(session, kiosk_id)
    return command


def _require_kiosk(session: Session, kiosk_id: str) -> None:
    if session.get(Kiosk, kiosk_id) is not None:
        return
    known = ", ".join(session.scalars(select(Kiosk.id).order_by(Kiosk.id))) or "none"
    raise UnknownKioskError(
        f"there is no kiosk {kiosk_id!r} on this site (it never started on this database)",
        hint=f"kiosks of this site: {known} (lockers site status)",
    )


def _require_in_bank(session: Session, kiosk_id: str, label: str) -> None:
    locker = session.scalar(
        select(Locker).where(Locker.label == label, Locker.retired_at.is_(None))
    )
    if locker is None:
        raise NotInBankError(
            f"there is no locker labelled {label!r} on this site",
            hint="see the labels with: lockers lockers list",
        )
    if locker.kiosk_id != kiosk_id:
        raise NotInBankError(
            f"locker {label} is in the bank of kiosk {locker.kiosk_id!r}, not of {kiosk_id!r}",
            hint=f"send the command to kiosk {locker.kiosk_id!r}",
        )


def expire_commands(
    session: Session, now: datetime, kiosk_id: str | None = None
) -> list[SiteCommand]:
    """Finish every unclaimed command past its ``expires_at`` as ``expired`` (once each)."""
    query = select(SiteCommand.id).where(
        SiteCommand.claimed_at.is_(None),
        SiteCommand.finished_at.is_(None),
        SiteCommand.expires_at < now,
    )
    if kiosk_id is not None:
        query = query.where(SiteCommand.kiosk_id == kiosk_id)
    expired: list[SiteCommand] = []
    for command_id in list(session.scalars(query.order_by(SiteCommand.id))):
        done = session.execute(
            update(SiteCommand)
            .where(
                SiteCommand.id == command_id,
                SiteCommand.claimed_at.is_(None),
                SiteCommand.finished_at.is_(None),
            )
            .values(
                finished_at=now,
                result=CommandResult.EXPIRED.value,
                detail="not picked up by the owning kiosk in time: never executed",
            )
            .execution_options(synchronize_session=False)
        )
        if done.rowcount != 1:  # type: ignore[attr-defined]
            continue  # claimed or expired by someone else meanwhile
        command = _reload(session, command_id)
        _audit_step(session, command, now, AuditAction.COMMAND_EXPIRED, AuditOutcome.EXPIRED)
        _notify(session, RESULTS_CHANNEL, str(command_id))
        expired.append(command)
    return expired


def claim_next_commands(
    session: Session, kiosk_id: str, instance: str, now: datetime, limit: int = 10
) -> list[SiteCommand]:
    """Claim this kiosk's pending commands, oldest first; each is handed to one caller only.

    Expired ones are finished as ``expired`` first and never returned. Commit the transaction
    before executing them (the claim must be durable before a door moves).

    Raises:
        KioskReplacedError: ``instance`` is no longer the registered process of ``kiosk_id``.
    """
    registered = session.scalar(select(Kiosk.instance).where(Kiosk.id == kiosk_id))
    if registered != instance:
        raise KioskReplacedError(
            f"kiosk {kiosk_id!r}: this process is not its registered instance, so it may not "
            "execute the kiosk's commands",
            hint="restart the kiosk (it registers again), and check that no other kiosk uses "
            "the same database.kiosk_id",
        )
    expire_commands(session, now, kiosk_id)
    query = (
        select(SiteCommand.id)
        .where(
            SiteCommand.kiosk_id == kiosk_id,
            SiteCommand.claimed_at.is_(None),
            SiteCommand.finished_at.is_(None),
            SiteCommand.expires_at >= now,
        )
        .order_by(SiteCommand.id)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    claimed: list[SiteCommand] = []
    for command_id in list(session.scalars(query)):
        won = session.execute(
            update(SiteCommand)
            .where(
                SiteCommand.id == command_id,
                SiteCommand.claimed_at.is_(None),
                SiteCommand.finished_at.is_(None),
                SiteCommand.expires_at >= now,
            )
            .values(claimed_at=now, claimed_by=instance)
            .execution_options(synchronize_session=False)
        )
        if won.rowcount != 1:  # type: ignore[attr-defined]
            continue  # another executor won it
        command = _reload(session, command_id)
        _audit_step(session, command, now, AuditAction.COMMAND_CLAIMED, AuditOutcome.CLAIMED)
        claimed.append(command)
    return claimed


def finish_command(
    session: Session,
    command_id: int,
    instance: str,
    result: CommandResult | str,
    now: datetime,
    detail: str | None = None,
) -> SiteCommand:
    """Record how a command this process claimed ended.

    Raises:
        CommandStateError: the command is not claimed by ``instance`` or already finished.
    """
    outcome = CommandResult(result)
    done = session.execute(
        update(SiteCommand)
        .where(
            SiteCommand.id == command_id,
            SiteCommand.claimed_by == instance,
            SiteCommand.finished_at.is_(None),
        )
        .values(finished_at=now, result=outcome.value, detail=detail)
        .execution_options(synchronize_session=False)
    )
    if done.rowcount != 1:  # type: ignore[attr-defined]
        raise CommandStateError(
            f"site command {command_id} is not claimed by this kiosk process or already finished",
            hint="a command is finished once, by the process that claimed it",
        )
    command = _reload(session, command_id)
    _audit_step(session, command, now, AuditAction.COMMAND_RUN, AuditOutcome(outcome.value))
    _notify(session, RESULTS_CHANNEL, str(command_id))
    return command


def abandon_interrupted(
    session: Session, kiosk_id: str, instance: str, now: datetime
) -> list[SiteCommand]:
    """Finish as ``interrupted`` the commands an earlier process of this kiosk claimed but never
    finished (it died): they ran at most once, maybe not at all. Call at start, after
    registering; the kiosk's own unlock recovery flags a door that may have moved."""
    stale = select(SiteCommand.id).where(
        SiteCommand.kiosk_id == kiosk_id,
        SiteCommand.claimed_at.is_not(None),
        SiteCommand.claimed_by != instance,
        SiteCommand.finished_at.is_(None),
    )
    abandoned: list[SiteCommand] = []
    for command_id in list(session.scalars(stale.order_by(SiteCommand.id))):
        done = session.execute(
            update(SiteCommand)
            .where(SiteCommand.id == command_id, SiteCommand.finished_at.is_(None))
            .values(
                finished_at=now,
                result=CommandResult.INTERRUPTED.value,
                detail="the kiosk stopped after claiming it: it ran at most once; check the locker",
            )
            .execution_options(synchronize_session=False)
        )
        if done.rowcount != 1:  # type: ignore[attr-defined]
            continue
        command = _reload(session, command_id)
        _audit_step(
            session, command, now, AuditAction.COMMAND_INTERRUPTED, AuditOutcome.INTERRUPTED
        )
        _notify(session, RESULTS_CHANNEL, str(command_id))
        abandoned.append(command)
    return abandoned


def get_command(session: Session, command_id: int) -> SiteCommand | None:
    return session.execute(
        select(SiteCommand)
        .where(SiteCommand.id == command_id)
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()


def pending_commands(session: Session, kiosk_id: str | None = None) -> Sequence[SiteCommand]:
    """Commands not finished yet (claimed or not), oldest first."""
    query = select(SiteCommand).where(SiteCommand.finished_at.is_(None))
    if kiosk_id is not None:
        query = query.where(SiteCommand.kiosk_id == kiosk_id)
    return list(session.scalars(query.order_by(SiteCommand.id)))


def _reload(session: Session, command_id: int) -> SiteCommand:
    return session.execute(
        select(SiteCommand)
        .where(SiteCommand.id == command_id)
        .execution_options(populate_existing=True)
    ).scalar_one()


def _audit_step(
    session: Session,
    command: SiteCommand,
    now: datetime,
    action: AuditAction,
    outcome: AuditOutcome,
) -> None:
    reason = describe(command) + (f" ({command.detail})" if command.detail else "")
    audit.append(
        session,
        at=now,
        actor=f"kiosk:{command.kiosk_id}",
        action=action,
        outcome=outcome,
        locker_label=command.locker_label,
        reason=reason,
    )
