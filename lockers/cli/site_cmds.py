"""Site commands: ``lockers site status`` (every kiosk of the site sharing this database)."""

from __future__ import annotations

import json

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
