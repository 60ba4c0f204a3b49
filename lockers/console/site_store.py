"""The console's view of the site, from the site store: kiosks from the registry and heartbeat
(:func:`lockers.store.site.site_status`), actions as site commands to the owning kiosk
(:mod:`lockers.store.site_commands`), results awaited with LISTEN/NOTIFY where the database
has it (:func:`lockers.store.site_listen.wait_for_result`)."""

from __future__ import annotations

from datetime import datetime

from lockers.console.site_port import CommandView, KioskView
from lockers.store import console_queries, site, site_commands
from lockers.store.db import Database, Session
from lockers.store.models import SiteCommand
from lockers.store.site_listen import wait_for_result


def command_view(command: SiteCommand) -> CommandView:
    return CommandView(
        id=command.id,
        kiosk_id=command.kiosk_id,
        action=command.action.value,
        locker_label=command.locker_label,
        staff=command.staff,
        reason=command.reason,
        created_at=command.created_at,
        expires_at=command.expires_at,
        claimed_at=command.claimed_at,
        finished_at=command.finished_at,
        result=command.result,
        detail=command.detail,
    )


class SiteStore:
    """:class:`SiteView` and :class:`CommandSender` over the shared database.

    Args:
        ttl_s: a command not claimed by the owning kiosk within this expires
            (``site.command_ttl_s``).
    """

    def __init__(self, ttl_s: float) -> None:
        self._ttl_s = ttl_s

    def kiosks(self, session: Session, now: datetime) -> list[KioskView]:
        return [
            KioskView(
                kiosk_id=status.kiosk_id,
                display_name=status.display_name,
                location=status.location,
                online=status.online,
                last_beat_at=status.last_beat_at,
                problems=tuple(status.problems),
            )
            for status in site.site_status(session, now)
        ]

    def send(
        self,
        session: Session,
        *,
        kiosk_id: str,
        action: str,
        label: str,
        staff: str,
        reason: str,
        now: datetime,
    ) -> CommandView:
        command = site_commands.send_command(
            session,
            kiosk_id=kiosk_id,
            action=action,
            label=label,
            staff=staff,
            reason=reason,
            source=site_commands.SOURCE_CONSOLE,
            now=now,
            ttl_s=self._ttl_s,
        )
        return command_view(command)

    def get(self, session: Session, command_id: int, now: datetime) -> CommandView | None:
        command = site_commands.get_command(session, command_id)
        if command is None:
            return None
        if command.finished_at is None and command.claimed_at is None and now > command.expires_at:
            # The owning kiosk may be offline: say "expired" now rather than when it returns.
            site_commands.expire_commands(session, now, command.kiosk_id)
            command = site_commands.get_command(session, command_id)
        return None if command is None else command_view(command)

    def wait(self, database: Database, command_id: int, timeout_s: float) -> CommandView | None:
        return command_view(wait_for_result(database, command_id, timeout_s))

    def counts_by_result(self, session: Session) -> list[tuple[str, int]]:
        return console_queries.command_counts(session)
