"""``lockers config ...``: check and show the effective configuration."""

from __future__ import annotations

import json

import typer

from lockers.cli._common import state

app = typer.Typer(help="Check and show the configuration.", no_args_is_help=True)


@app.command("check")
def check(ctx: typer.Context) -> None:
    """Validate the config file and environment overrides; exit 2 with every problem listed."""
    settings = state(ctx).settings()
    where = state(ctx).config_path or "defaults / ./config.yaml"
    typer.echo(f"configuration OK ({where}); {len(settings.lockers)} lockers")


@app.command("show")
def show(ctx: typer.Context) -> None:
    """Print the effective configuration (file + LOCKERS_* overrides + defaults) as JSON."""
    settings = state(ctx).settings()
    typer.echo(json.dumps(settings.model_dump(mode="json"), indent=2, ensure_ascii=False))
