"""A staff action on a locker of another kiosk's bank: sent as a site command to the kiosk
that owns it (only that kiosk drives its board), then waited for until its result is recorded,
it expires, or the wait runs out."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from lockers.kiosk.dto import StaffActionResult
from lockers.kiosk.errors import StaffActionRefused
from lockers.store import site, site_commands
from lockers.store.db import Database
from lockers.store.models import CommandAction
from lockers.store.site_commands import NotInBankError, UnknownKioskError
from lockers.store.site_listen import wait_for_result

# Past the command's time to live: a command claimed just before it expires still pulses the
# door and watches it (a few seconds) before its result is recorded.
RESULT_MARGIN_S = 15.0
PENDING = "pending"  # StaffActionResult.outcome when the wait ran out before any result

STAFF_ACTION_OF: dict[CommandAction, str] = {
    CommandAction.OPEN: "force_open",
    CommandAction.RESET: "reset",
    CommandAction.OUT_OF_SERVICE: "out_of_service",
    CommandAction.BACK_IN_SERVICE: "back_in_service",
}


def send_and_wait(
    database: Database,
    *,
    owner: str,
    action: CommandAction,
    label: str,
    staff: str,
    reason: str,
    source: str,
    ttl_s: float,
    clock: Callable[[], datetime],
    margin_s: float = RESULT_MARGIN_S,
    wait_s: float | None = None,
) -> StaffActionResult:
    """Send ``action`` on ``label`` to kiosk ``owner`` and wait for its result (at most
    ``ttl_s + margin_s``). The outcome is the command's result (``opened``, ``jammed``,
    ``no_answer``, ``unconfirmed``, ``refused``, ``done``, ``expired``, ``interrupted``) or
    ``pending`` when the wait (``wait_s``, else ``ttl_s + margin_s``) ran out first.

    Raises:
        StaffActionRefused: no such kiosk on this site, or the locker is not in its bank
            (refused at once, nothing sent). StoreError: the database failed.
    """
    try:
        with database.transaction() as session:
            command = site_commands.send_command(
                session,
                kiosk_id=owner,
                action=action,
                label=label,
                staff=staff,
                reason=reason,
                source=source,
                now=clock(),
                ttl_s=ttl_s,
            )
            command_id = command.id
            name, _location = site.kiosk_place(session, owner)
    except (UnknownKioskError, NotInBankError) as exc:
        raise StaffActionRefused(exc.message, hint=exc.hint) from None
    done = wait_for_result(database, command_id, ttl_s + margin_s if wait_s is None else wait_s)
    if done.finished_at is None or done.result is None:
        outcome = PENDING
        detail = f"sent to {name}: no result yet (command {command_id}); see the audit log"
    else:
        outcome = str(done.result)
        detail = f"sent to {name}: {outcome}" + (f" ({done.detail})" if done.detail else "")
    return StaffActionResult(label, STAFF_ACTION_OF[action], outcome, detail)
