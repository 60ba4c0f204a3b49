"""Staff actions from the console: checked (role, kiosk scope, preset reason), then sent as a
command to the kiosk that owns the locker. The console itself never drives a board."""

from __future__ import annotations

from dataclasses import dataclass

from lockers.config import Settings
from lockers.config.ui import PresetReason
from lockers.console.auth import Forbidden, Principal
from lockers.console.context import ConsoleContext
from lockers.console.site_port import ACTIONS, CommandView
from lockers.errors import LockersError
from lockers.store import console_queries
from lockers.store.console_models import StaffRole
from lockers.store.console_queries import LockerRow

ACTION_ROLE = {
    "open": StaffRole.ATTENDANT,
    "reset": StaffRole.MANAGER,
    "out_of_service": StaffRole.MANAGER,
    "back_in_service": StaffRole.MANAGER,
}
ACTION_TITLE = {
    "open": "Open",
    "reset": "Reset (end the rental)",
    "out_of_service": "Out of service",
    "back_in_service": "Back in service",
}
# The kiosk's staff reasons have no list for back in service; these are the console's.
_BACK_IN_SERVICE = [
    PresetReason(ko="수리 완료", en="repaired"),
    PresetReason(ko="점검 완료", en="checked"),
    PresetReason(ko="기타", en="other"),
]
MAX_NOTE = 200


class ActionRefused(LockersError):
    """An action the console will not send (unknown locker or action, bad reason)."""


def presets(settings: Settings, action: str) -> list[PresetReason]:
    """The preset reasons offered for ``action`` (``ui.staff_reasons``)."""
    reasons = settings.ui.staff_reasons
    return {
        "open": reasons.open,
        "reset": reasons.reset,
        "out_of_service": reasons.out_of_service,
        "back_in_service": _BACK_IN_SERVICE,
    }[action]


def reason_text(settings: Settings, action: str, reason: str, note: str) -> str:
    """The audited reason: the preset in ``ui.language`` plus the note.

    ``reason`` is a preset's index (the pages) or its text in either language (the API).

    Raises:
        ActionRefused: not one of the presets, or a note over 200 characters.
    """
    options = presets(settings, action)
    chosen = next(
        (p for i, p in enumerate(options) if reason.strip() in (str(i), p.ko, p.en)), None
    )
    if chosen is None:
        allowed = "; ".join(p.en for p in options)
        raise ActionRefused(f"reason {reason!r} is not offered for {action}", hint=allowed)
    if len(note) > MAX_NOTE:
        raise ActionRefused(f"the note is over {MAX_NOTE} characters", hint="shorten it")
    text = chosen.ko if settings.ui.language == "ko" else chosen.en
    return f"{text} ({note.strip()})" if note.strip() else text


def check_allowed(who: Principal, action: str, kiosk_id: str) -> None:
    """Raises: ActionRefused: unknown action. Forbidden: role or kiosk scope."""
    if action not in ACTIONS:
        raise ActionRefused(f"unknown action {action!r}", hint="one of: " + ", ".join(ACTIONS))
    if not who.role.includes(ACTION_ROLE[action]):
        raise Forbidden(f"{action} needs the {ACTION_ROLE[action].value} role")
    if not who.may_act_on(kiosk_id):
        raise Forbidden(f"{who.name} may not act on kiosk {kiosk_id}")


def find_locker(ctx: ConsoleContext, label: str) -> LockerRow:
    """Raises: ActionRefused: no locker in service with that label."""
    with ctx.database.transaction() as session:
        rows = console_queries.locker_grid(session, ctx.clock(), search=label)
    exact = [row for row in rows if row.label == label]
    if not exact:
        raise ActionRefused(f"there is no locker labelled {label!r}", hint="see the overview")
    return exact[0]


def send(
    ctx: ConsoleContext, who: Principal, label: str, action: str, reason: str, note: str = ""
) -> CommandView:
    """Check and send one action; returns the command as sent."""
    locker = find_locker(ctx, label)
    check_allowed(who, action, locker.kiosk_id)
    text = reason_text(ctx.settings, action, reason, note)
    with ctx.database.transaction() as session:
        return ctx.commands.send(
            session,
            kiosk_id=locker.kiosk_id,
            action=action,
            label=label,
            staff=who.name,
            reason=text,
            now=ctx.clock(),
        )


def command(ctx: ConsoleContext, command_id: int) -> CommandView | None:
    with ctx.database.transaction() as session:
        return ctx.commands.get(session, command_id, ctx.clock())


def wait_for_result(ctx: ConsoleContext, command_id: int, wait_s: float) -> CommandView | None:
    """The command once finished, or as it stands after ``wait_s`` (at most
    ``console.max_wait_s``)."""
    return ctx.commands.wait(ctx.database, command_id, min(wait_s, ctx.settings.console.max_wait_s))


@dataclass(frozen=True)
class Released:
    """One line of the "release all overdue" result."""

    label: str
    command: CommandView | None
    error: str | None
