"""``lockers console``: the site console (web pages, REST API, metrics) and its accounts."""

from __future__ import annotations

import getpass
from typing import TYPE_CHECKING

import typer
from rich.console import Console

from lockers.cli._common import state

if TYPE_CHECKING:
    from lockers.store.db import Database

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)
app = typer.Typer(
    help="The site console: every kiosk and locker of the site in a browser.",
    invoke_without_command=True,
)
token_app = typer.Typer(help="API tokens for the console's REST API and /metrics.")
app.add_typer(token_app, name="token")


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="console")


def _database(ctx: typer.Context) -> Database:
    """The site's database, refused unless its schema is the code's."""
    from lockers.store.db import Database
    from lockers.store.schema import require_current_schema

    settings = state(ctx).settings()
    database = Database(settings.database_url, settings.database.busy_timeout_s)
    require_current_schema(database)
    return database


@app.callback()
def console(
    ctx: typer.Context,
    host: str = typer.Option(
        "127.0.0.1", help="address to listen on (keep loopback behind a proxy)"
    ),
    port: int = typer.Option(8080, min=1, max=65535, help="TCP port"),
) -> None:
    """Serve the console (when no subcommand is given)."""
    if ctx.invoked_subcommand is not None:
        return
    from lockers.console.serve import exposure_warning, serve

    settings = state(ctx).settings()
    warning = exposure_warning(host, settings.console.tls)
    if warning:
        err.print(f"[bold yellow]warning:[/] {warning}", markup=True)
    scheme = "https" if settings.console.tls else "http"
    err.print(f"console on {scheme}://{host}:{port}/ (database {settings.database_url})")
    serve(settings, host, port)


@app.command("set-password")
def set_password(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="staff member's name"),
    password: str = typer.Option(
        ...,
        prompt="console password",
        hide_input=True,
        confirmation_prompt=True,
        help="at least 10 characters (asked for when not given)",
    ),
) -> None:
    """Give a staff member a console password (separate from the kiosk PIN)."""
    from lockers.console.accounts import set_password as set_console_password
    from lockers.store.models import utcnow

    database = _database(ctx)
    try:
        set_console_password(database, name, password, f"cli:{getpass.getuser()}", utcnow())
    finally:
        database.dispose()
    out.print(f"console password of {name} set (their console sessions ended)")


@token_app.command("create")
def token_create(
    ctx: typer.Context,
    staff: str = typer.Option(..., "--staff", help="the staff member the token acts as"),
    expires_days: float = typer.Option(..., "--expires-days", help="days until it expires"),
    role: str = typer.Option("", help="attendant | manager | admin (default: theirs)"),
    note: str = typer.Option("", help="what the token is for"),
) -> None:
    """Create an API token; it is printed once, alone on the last line."""
    from lockers.console.accounts import create_token, parse_role
    from lockers.store.models import utcnow

    database = _database(ctx)
    try:
        token = create_token(
            database,
            staff,
            parse_role(role) if role else None,
            expires_days,
            f"cli:{getpass.getuser()}",
            utcnow(),
            note or None,
        )
    finally:
        database.dispose()
    out.print(f"API token for {staff}, valid {expires_days:g} days (shown only now):")
    print(token)
