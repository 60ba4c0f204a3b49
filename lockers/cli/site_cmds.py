"""Site commands: ``lockers site status`` (every kiosk of the site sharing this database),
``lockers site agent`` (a kiosk's site part alone: heartbeat and staff commands on its board) and
``lockers site key export|import`` (the site's template key and PIN secret, moved between kiosks
under a passphrase, never through the database)."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from lockers.cli._common import state

out = Console(highlight=False, soft_wrap=True)


def register(app: typer.Typer) -> None:
    """Add the ``site`` command group to the root app."""
    site_app = typer.Typer(help="The kiosks of a site sharing one database.")
    site_app.info.no_args_is_help = True
    app.add_typer(site_app, name="site")

    @site_app.command("status")
    def site_status(
        ctx: typer.Context,
        as_json: bool = typer.Option(False, "--json", help="print JSON instead of a table"),
    ) -> None:
        """Every kiosk of the site: online/offline, last heartbeat, its lockers, problems."""
        from lockers.kiosk.startup import open_database
        from lockers.store import site
        from lockers.store.models import utcnow

        settings = state(ctx).settings()
        database = open_database(settings)
        try:
            now = utcnow()
            with database.transaction() as session:
                statuses = site.site_status(session, now)
        finally:
            database.dispose()
        if as_json:
            kiosks = [s.as_json() for s in statuses]
            print(json.dumps({"at": now.isoformat(), "kiosks": kiosks}, indent=2))
            return
        table = Table("kiosk", "name", "state", "last beat", "lockers", "problems")
        table.caption = "lockers: free / occupied / overdue / out of service"
        for s in statuses:
            beat = "never" if s.last_beat_at is None else f"{s.last_beat_at:%Y-%m-%d %H:%M:%S}Z"
            name = s.display_name + (f" ({s.location})" if s.location else "")
            table.add_row(
                s.kiosk_id,
                name,
                "[green]online[/]" if s.online else "[red]offline[/]",
                beat,
                f"{s.lockers_free}/{s.lockers_occupied}/{s.lockers_overdue}/"
                f"{s.lockers_out_of_service}",
                "; ".join(s.problems),
            )
        if not statuses:
            out.print("no kiosk has started on this database yet")
            return
        out.print(table)

    _register_agent(site_app)
    _register_keys(site_app)


def _register_agent(site_app: typer.Typer) -> None:
    @site_app.command("agent")
    def site_agent(ctx: typer.Context) -> None:
        """Run only this kiosk's part in the site, without camera or screen: registered as the
        kiosk, its bank synced, the heartbeat, and the staff commands for its bank executed on
        its board. Stops (signed off) on SIGTERM or Ctrl-C.

        For a bank whose kiosk is being serviced, and for the console's end-to-end test (the
        full `lockers kiosk` needs verified face weights)."""
        import logging

        from lockers.app.site import run_site_agent

        logging.basicConfig(
            level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
        )
        problem = run_site_agent(state(ctx).settings(), on_ready=out.print)
        if problem:
            out.print(f"[red]site agent stopped:[/] {problem}")
            raise typer.Exit(1)


def _passphrase(given: str | None, confirm: bool) -> str:
    if given is not None:
        return given
    return str(
        typer.prompt(
            "passphrase for the site keys file", hide_input=True, confirmation_prompt=confirm
        )
    )


def _register_keys(site_app: typer.Typer) -> None:
    key_app = typer.Typer(help="The site's secrets (template key, PIN secret), for a new kiosk.")
    key_app.info.no_args_is_help = True
    site_app.add_typer(key_app, name="key")
    passphrase_opt = typer.Option(
        None, "--passphrase", envvar="LOCKERS_SITE_KEY_PASSPHRASE", hidden=True
    )

    @key_app.command("export")
    def key_export(
        ctx: typer.Context,
        path: Path = typer.Argument(..., help="file to write (not replaced if it exists)"),
        passphrase: str | None = passphrase_opt,
    ) -> None:
        """Write this kiosk's template key and PIN secret to FILE, encrypted with a passphrase
        (asked twice). Carry FILE to the new kiosk and tell its installer the passphrase."""
        from lockers.kiosk import site_keys

        settings = state(ctx).settings()
        secrets = site_keys.read_local(
            settings.privacy.template_key_file, settings.privacy.pin_secret_path
        )
        site_keys.export_keys(path, secrets, _passphrase(passphrase, confirm=True))
        out.print(f"site keys written to {path} (encrypted; delete it once imported)")

    @key_app.command("import")
    def key_import(
        ctx: typer.Context,
        path: Path = typer.Argument(..., help="a file from `lockers site key export`"),
        passphrase: str | None = passphrase_opt,
        replace: bool = typer.Option(
            False, "--replace", help="replace this kiosk's own keys (a kiosk new to the site)"
        ),
    ) -> None:
        """Install the site's template key and PIN secret from FILE on this kiosk."""
        from lockers.kiosk import site_keys

        settings = state(ctx).settings()
        written = site_keys.import_keys(
            path,
            _passphrase(passphrase, confirm=False),
            settings.privacy.template_key_file,
            settings.privacy.pin_secret_path,
            replace,
        )
        for target in written:
            out.print(f"wrote {target}")
        if not written:
            out.print("this kiosk already holds the site's keys")
