"""Executing the site commands staff at other kiosks (or the console, or the CLI) sent to this
kiosk for a locker of its bank.

:meth:`CommandExecutor.run_pending` claims this kiosk's pending commands (one transaction,
``claim_next_commands``: each command is handed to one process only, expired ones never), then
runs each through the same path as this kiosk's own staff actions
(:class:`~lockers.kiosk.bank_actions.BankActions`: the one unlock sequence, the staff flag, the
audit entries under the staff member's name), and records the result with ``finish_command``.

The database going away between the door and the result: the result is kept in memory and
recorded at the next :meth:`~CommandExecutor.run_pending` (before anything new is claimed); if
the process dies first, the next start finishes the command as ``interrupted``
(``abandon_interrupted``). Either way it ran at most once, and never after it expired.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from lockers.errors import LockersError, StoreError
from lockers.hardware.board import LockBoard, UnlockOutcome
from lockers.kiosk.bank_actions import BankActions
from lockers.kiosk.dto import StaffActionResult
from lockers.kiosk.errors import StaffActionRefused
from lockers.kiosk.unlocking import Checkpoint, no_checkpoint
from lockers.store import site_commands
from lockers.store.db import Database
from lockers.store.lockers_repo import UnknownLockerError
from lockers.store.models import CommandAction, CommandResult, SiteCommand, utcnow

log = logging.getLogger(__name__)

_DOOR_RESULTS: dict[str, CommandResult] = {
    UnlockOutcome.OPENED.value: CommandResult.OPENED,
    UnlockOutcome.JAMMED.value: CommandResult.JAMMED,
    UnlockOutcome.UNCONFIRMED.value: CommandResult.UNCONFIRMED,
    # The unlock never reached the board (port closed, bus busy past the deadline): the board
    # gave no answer to this command at all.
    UnlockOutcome.NOT_SENT.value: CommandResult.NO_ANSWER,
}


@dataclass(frozen=True)
class ClaimedCommand:
    """What executing a claimed command needs (no ORM object outlives its transaction)."""

    id: int
    action: CommandAction
    locker_label: str
    staff: str
    reason: str
    source: str

    @classmethod
    def of(cls, command: SiteCommand) -> ClaimedCommand:
        return cls(
            command.id,
            CommandAction(command.action),
            command.locker_label,
            command.staff,
            command.reason,
            command.source,
        )


@dataclass(frozen=True)
class CommandRun:
    """One executed command: what it was and how it ended (``recorded``: in the database)."""

    command: ClaimedCommand
    result: CommandResult
    detail: str
    recorded: bool = True


class CommandExecutor:
    """Runs this kiosk's site commands. One caller at a time (the kiosk's service thread or a
    thread of its own); several executors of one kiosk id may race: each command runs once.

    Args:
        database: the site database.
        board: this kiosk's lock board (the bank's doors).
        kiosk_id: this kiosk (``database.kiosk_id``).
        instance: this process's registration token (``KioskPresence.instance``).
    """

    def __init__(
        self,
        database: Database,
        board: LockBoard | None,
        *,
        kiosk_id: str,
        instance: str,
        clock: Callable[[], datetime] = utcnow,
        checkpoint: Checkpoint = no_checkpoint,
        batch: int = 10,
    ) -> None:
        self.database = database
        self.kiosk_id = kiosk_id
        self.instance = instance
        self._clock = clock
        self._checkpoint = checkpoint
        self._batch = batch
        self._bank = BankActions(database, board, kiosk_id, clock, checkpoint)
        self._unrecorded: list[CommandRun] = []

    def run_pending(self, now: datetime | None = None) -> list[CommandRun]:
        """Record results the database missed earlier, then claim and execute this kiosk's
        pending commands (expired ones are finished as ``expired`` and never run).

        Raises:
            KioskReplacedError: another process holds this kiosk id now: stop executing.
            StoreError: the database failed while claiming (nothing was claimed, nothing ran).
        """
        self._record_missed()
        now = self._clock() if now is None else now
        with self.database.transaction() as session:
            claimed = [
                ClaimedCommand.of(c)
                for c in site_commands.claim_next_commands(
                    session, self.kiosk_id, self.instance, now, self._batch
                )
            ]
        # Committed: the claim is durable before any door moves.
        return [self._run(command) for command in claimed]

    def _run(self, command: ClaimedCommand) -> CommandRun:
        self._checkpoint("command:claimed")
        try:
            result, detail = self._execute(command)
        except (StaffActionRefused, UnknownLockerError) as exc:
            result, detail = CommandResult.REFUSED, exc.message
        except StoreError as exc:
            # The database failed inside the action: a door may have pulsed after its committed
            # intent (the start-up check flags such a locker), so it ran at most once.
            result = CommandResult.INTERRUPTED
            detail = f"the database failed during it ({exc.message}): ran at most once; check it"
        self._checkpoint("command:executed")
        run = CommandRun(command, result, detail)
        if not self._record(run):
            run = CommandRun(command, result, detail, recorded=False)
            self._unrecorded.append(run)
        return run

    def _execute(self, command: ClaimedCommand) -> tuple[CommandResult, str]:
        actor = f"staff:{command.staff}"
        why = (
            f"{command.reason} (command {command.id} from {command.source} to kiosk "
            f"{self.kiosk_id})"
        )
        label, bank = command.locker_label, self._bank
        done: StaffActionResult
        if command.action is CommandAction.OPEN:
            done = bank.force_open(actor, label, why)
            return _DOOR_RESULTS.get(done.outcome, CommandResult.UNCONFIRMED), done.detail
        if command.action is CommandAction.RESET:
            done = bank.reset(actor, command.staff, label, why)
        elif command.action is CommandAction.OUT_OF_SERVICE:
            done = bank.out_of_service(actor, label, why)
        else:
            done = bank.back_in_service(actor, label, why)
        return CommandResult.DONE, done.detail

    def _record(self, run: CommandRun) -> bool:
        try:
            with self.database.transaction() as session:
                site_commands.finish_command(
                    session, run.command.id, self.instance, run.result, self._clock(), run.detail
                )
        except site_commands.CommandStateError:
            log.warning("site command %s was finished by someone else", run.command.id)
        except LockersError as exc:
            log.warning("cannot record site command %s yet: %s", run.command.id, exc)
            return False
        return True

    def _record_missed(self) -> None:
        missed, self._unrecorded = self._unrecorded, []
        for run in missed:
            if not self._record(run):
                self._unrecorded.append(run)
