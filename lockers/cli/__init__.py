"""The ``lockers`` command line: the only place that prints for users.

Heavy libraries are imported inside each command, so ``lockers --help`` stays fast.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import typer
from rich.console import Console

from lockers.cli import (
    board_cmds,
    config_cmds,
    console_cmds,
    doctor_cmd,
    kiosk_cmds,
    models_cmds,
    pad_cmds,
    prompts_cmds,
    site_cmds,
    soak_cmd,
    store_cmds,
    train_cmds,
    vision_cmds,
)
from lockers.cli._common import CliState
from lockers.errors import LockersError

app = typer.Typer(
    name="lockers",
    help="Face-recognition smart-locker kiosk.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def _root(
    ctx: typer.Context,
    config: Path | None = typer.Option(
        None, "--config", envvar="LOCKERS_CONFIG", help="config file (default ./config.yaml)"
    ),
) -> None:
    ctx.obj = CliState(config_path=config)


vision_cmds.register(app)
app.add_typer(config_cmds.app, name="config")
app.add_typer(models_cmds.app, name="models")
board_cmds.register(app)
store_cmds.register(app)
train_cmds.register(app)
kiosk_cmds.register(app)
doctor_cmd.register(app)
pad_cmds.register(app)
soak_cmd.register(app)
site_cmds.register(app)
console_cmds.register(app)
prompts_cmds.register(app)


def main() -> None:
    """Console-script entry point: user errors end in a message and exit code 2, no traceback."""
    # OpenBLAS threads spin and slow torch down on small CPUs; must be set before numpy loads.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    try:
        app()
    except LockersError as exc:
        err = Console(stderr=True, highlight=False, soft_wrap=True)
        err.print(f"[bold red]error:[/] {exc.message}", markup=True)
        if exc.hint:
            err.print(f"[bold]hint:[/] {exc.hint}", markup=True)
        sys.exit(2)
    except KeyboardInterrupt:
        sys.exit(130)
