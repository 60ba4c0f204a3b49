"""Store and staff commands: ``db``, ``admin``, ``lockers``, ``audit`` groups.

Staff commands ask for the staff member's PIN (hidden) and audit the action under their name,
exactly as the kiosk UI does.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.table import Table

from lockers.cli._common import state

if TYPE_CHECKING:
    from lockers.config import Settings
    from lockers.hardware.board import LockBoard
    from lockers.kiosk.dto import StaffSession
    from lockers.kiosk.staff_service import StaffService
    from lockers.store.db import Database

out = Console(highlight=False, soft_wrap=True)


@contextmanager
def _database(settings: Settings, *, raw: bool = False) -> Iterator[Database]:
    """The database for one command, disposed afterwards.

    ``raw`` opens it whatever its schema (for ``db upgrade``/``db current``); otherwise a schema
    that does not match the code is refused with the command that fixes it.
    """
    from lockers.kiosk.startup import connect, open_database

    database = connect(settings) if raw else open_database(settings)
    try:
        yield database
    finally:
        database.dispose()


@contextmanager
def _staff_action(
    settings: Settings, staff: str, pin: str | None, *, with_board: bool = False
) -> Iterator[tuple[StaffService, StaffSession]]:
    """A logged-in staff member (PIN prompted when not given), with the board if needed."""
    with _database(settings) as database, ExitStack() as stack:
        board = None
        if with_board:
            from lockers.hardware.boards import open_board

            board = stack.enter_context(open_board(settings.board, settings.lockers))
        service = _staff_service(settings, database, board)
        if pin is None:
            pin = typer.prompt(f"PIN for {staff}", hide_input=True)
        yield service, service.login(staff, pin)


def _staff_service(settings: Settings, database: Database, board: LockBoard | None) -> StaffService:
    """The staff service of this site: PINs keyed with its secret (created on first use)."""
    from lockers.kiosk.staff_service import StaffService
    from lockers.kiosk.startup import open_pin_secret

    secret = open_pin_secret(settings, database)
    return StaffService(
        database,
        board,
        kiosk_id=settings.database.kiosk_id,
        pin_secret=secret,
        command_ttl_s=settings.site.command_ttl_s,
    )


def _in_own_bank(settings: Settings, label: str) -> bool:
    """Whether locker ``label`` is in this kiosk's bank (an unknown label: the direct path
    reports it). Another bank's locker is acted on by its kiosk, through a site command."""
    from lockers.store import lockers_repo

    with _database(settings) as database, database.transaction() as session:
        try:
            return lockers_repo.get_locker(session, label).kiosk_id == settings.database.kiosk_id
        except lockers_repo.UnknownLockerError:
            return True


def register(app: typer.Typer) -> None:
    """Add the store command groups to the root app."""
    db_app = typer.Typer(help="The kiosk database: schema, lockers, consistency.")
    admin_app = typer.Typer(help="Staff accounts.")
    lockers_app = typer.Typer(help="Lockers, for staff without the kiosk screen.")
    audit_app = typer.Typer(help="The audit log.")
    for sub, name in (
        (db_app, "db"),
        (admin_app, "admin"),
        (lockers_app, "lockers"),
        (audit_app, "audit"),
    ):
        sub.info.no_args_is_help = True
        app.add_typer(sub, name=name)

    @db_app.command("upgrade")
    def db_upgrade(
        ctx: typer.Context,
        revision: str = typer.Option("head", help="target revision"),
    ) -> None:
        """Create or migrate the database schema to this version of lockers."""
        from lockers.store import lockers_repo
        from lockers.store.schema import current_revision, head_revision, upgrade

        settings = state(ctx).settings()
        with _database(settings, raw=True) as database:
            before = current_revision(database)
            after = upgrade(database, revision, kiosk_id=settings.database.kiosk_id)
            if before == after:
                out.print(f"database already at {after}")
            else:
                out.print(f"database upgraded: {before or '(empty)'} -> {after}")
            if after != head_revision():
                return  # an older schema: the locker tables may not match this code
            # First run: a kiosk with no lockers in its database is useless, so create the
            # configured ones now. Later changes stay with `db sync-lockers` (it may refuse).
            with database.transaction() as session:
                own = lockers_repo.list_lockers(session, settings.database.kiosk_id)
                if own or not settings.lockers:
                    report = None
                else:
                    report = lockers_repo.sync_bank(session, settings)
        if report is not None:
            out.print(
                f"created {len(report.added)} lockers from the config: {', '.join(report.added)}"
            )
        elif not settings.lockers:
            out.print(
                "no lockers configured: add a `lockers:` list, then `lockers db sync-lockers`"
            )

    @db_app.command("current")
    def db_current(ctx: typer.Context) -> None:
        """Show the schema revision of the database and of this code."""
        from lockers.store.schema import schema_status

        with _database(state(ctx).settings(), raw=True) as database:
            status = schema_status(database)
        out.print(f"database: {database.url.render_as_string()}")
        out.print(f"current:  {status.current or '(empty)'}")
        out.print(f"code:     {status.head}")
        if not status.up_to_date:
            out.print("[yellow]not up to date: run `lockers db upgrade`[/]")
            raise typer.Exit(1)
        out.print("[green]up to date[/]")

    @db_app.command("sync-lockers")
    def db_sync(ctx: typer.Context) -> None:
        """Create/update this kiosk's bank from config.yaml (refuses to remove one in use; never
        touches another kiosk's lockers)."""
        from lockers.store import lockers_repo

        settings = state(ctx).settings()
        with _database(settings) as database, database.transaction() as session:
            report = lockers_repo.sync_bank(session, settings)
        if not report.changed:
            out.print("lockers already match config.yaml")
        for label in report.added:
            out.print(f"added locker {label}")
        for label in report.updated:
            out.print(f"updated locker {label}")
        for label in report.retired:
            out.print(f"removed locker {label} (kept in history)")

    @db_app.command("check")
    def db_check(
        ctx: typer.Context,
        repair: bool = typer.Option(True, help="repair what is safe to repair"),
    ) -> None:
        """Run the start-up consistency check, and check that every audit entry's action and
        outcome are in the contract; exit 1 if anything needs staff."""
        from lockers.kiosk.startup import start_store
        from lockers.store import consistency

        store, report = start_store(state(ctx).settings(), repair=repair)
        try:
            with store.database.transaction() as session:
                off_contract = consistency.audit_findings(session)
        finally:
            store.close()
        for finding in off_contract:
            out.print(f"[yellow]found[/] {finding.kind}: {finding.detail}")
        for label in report.lockers_added:
            out.print(f"added locker {label}")
        for rental_id in report.expired_rentals:
            out.print(f"expired rental {rental_id} (templates deleted, locker flagged)")
        for finding in report.findings:
            tag = "[green]repaired[/]" if finding.repaired else "[yellow]found[/]"
            out.print(f"{tag} {finding.kind}: {finding.detail}")
        if report.clean and not off_contract:
            out.print("[green]database consistent[/]")
        elif off_contract or not all(f.repaired for f in report.findings):
            raise typer.Exit(1)

    @admin_app.command("add-staff")
    def add_staff(
        ctx: typer.Context,
        name: str = typer.Argument(..., help="staff member's name (login)"),
        role: str = typer.Option("attendant", help="attendant | manager | admin"),
        pin: str = typer.Option(
            ..., prompt=True, hide_input=True, confirmation_prompt=True, help="4-12 digits"
        ),
        console_password: str | None = typer.Option(
            None,
            "--console-password",
            help="also a password (at least 10 characters) for the site console",
        ),
    ) -> None:
        """Add a staff member who can log in with a PIN (and, given a password, to the console)."""
        import getpass

        settings = state(ctx).settings()
        if console_password is not None:  # refused before anything is written
            from lockers.console.passwords import validate_password

            validate_password(console_password)
        with _database(settings) as database:
            service = _staff_service(settings, database, None)
            service.add_staff(name, pin, role, actor=f"cli:{getpass.getuser()}")
            number = next(e.number for e in service.directory() if e.name == name.strip())
            if console_password is not None:
                from lockers.console.accounts import set_password
                from lockers.store.models import utcnow

                set_password(
                    database, name.strip(), console_password, f"cli:{getpass.getuser()}", utcnow()
                )
        # The number logs in on the kiosk's PIN pad as well as tapping the name.
        out.print(f"staff member {name} ({role}) added, staff number {number}")

    @lockers_app.command("list")
    def lockers_list(ctx: typer.Context) -> None:
        """List lockers with status, rental and staff flags."""
        from lockers.kiosk.staff_service import list_lockers
        from lockers.store.models import utcnow

        with _database(state(ctx).settings()) as database:
            views = list_lockers(database, utcnow())
        table = Table(
            "locker", "size", "wire", "status", "door", "rental", "ends", "staff", "kiosk"
        )
        for v in views:
            ends = "" if v.rental_ends_at is None else f"{v.rental_ends_at:%Y-%m-%d %H:%M}Z"
            table.add_row(
                v.label,
                v.size,
                f"{v.board}/{v.channel}",
                v.status,
                v.door_state,
                "" if v.rental_id is None else str(v.rental_id),
                ends + (" OVERDUE" if v.overdue else ""),
                v.attention or "",
                v.kiosk_name,
            )
        out.print(table)

    staff_opt = typer.Option(..., "--staff", help="your staff name (asks for your PIN)")
    reason_opt = typer.Option(..., "--reason", help="why, for the audit log")
    pin_opt = typer.Option(None, "--pin", envvar="LOCKERS_STAFF_PIN", hidden=True)

    @lockers_app.command("open")
    def lockers_open(
        ctx: typer.Context,
        label: str = typer.Argument(..., help="locker label"),
        staff: str = staff_opt,
        reason: str = reason_opt,
        pin: str | None = pin_opt,
    ) -> None:
        """Force a locker open (its rental stays). A locker of another kiosk's bank is opened by
        that kiosk: the command waits for its result (up to site.command_ttl_s and a margin)."""
        settings = state(ctx).settings()
        own = _in_own_bank(settings, label)
        with _staff_action(settings, staff, pin, with_board=own) as (service, who):
            result = service.force_open(who, label, reason)
        out.print(f"locker {label}: {result.outcome} {result.detail}".rstrip())
        if result.outcome != "opened":
            raise typer.Exit(1)

    @lockers_app.command("reset")
    def lockers_reset(
        ctx: typer.Context,
        label: str = typer.Argument(..., help="locker label"),
        staff: str = staff_opt,
        reason: str = reason_opt,
        pin: str | None = pin_opt,
    ) -> None:
        """End the locker's rental, delete its face templates, make it available (another
        kiosk's locker: a command to that kiosk, waiting for the result)."""
        with _staff_action(state(ctx).settings(), staff, pin) as (service, who):
            result = service.reset(who, label, reason)
        if result.outcome not in ("ok", "done"):
            out.print(f"locker {label} not reset: {result.outcome} {result.detail}".rstrip())
            raise typer.Exit(1)
        out.print(f"locker {label} reset: {result.detail}")

    @audit_app.command("export")
    def audit_export(
        ctx: typer.Context,
        path: Path = typer.Argument(..., help="CSV file to write"),
        staff: str = staff_opt,
        since: datetime | None = typer.Option(None, help="only entries from this UTC time"),
        pin: str | None = pin_opt,
    ) -> None:
        """Export the audit log to CSV."""
        from datetime import UTC

        start = None if since is None else since.replace(tzinfo=since.tzinfo or UTC)
        with _staff_action(state(ctx).settings(), staff, pin) as (service, who):
            count = service.export_audit(who, path, start)
        out.print(f"{count} audit entries written to {path}")
