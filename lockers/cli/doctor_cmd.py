"""``lockers doctor``: check everything a site needs; a table (or ``--json``) with each fix."""

from __future__ import annotations

import json
import os
import socket
from contextlib import nullcontext
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.table import Table

from lockers.cli._common import state
from lockers.doctor.runner import CHECKS  # cheap: the checks import their libraries lazily

if TYPE_CHECKING:
    from lockers.doctor import CheckResult, Status

STYLES = {"ok": "green", "warn": "yellow", "fail": "bold red"}


def register(app: typer.Typer) -> None:
    @app.command("doctor")
    def doctor(
        ctx: typer.Context,
        as_json: bool = typer.Option(False, "--json", help="one JSON object (fleet tooling)"),
        camera_seconds: float = typer.Option(
            2.0, "--camera-seconds", min=0.2, max=30.0, help="how long to measure the camera"
        ),
        skip: list[str] = typer.Option(
            [],
            "--skip",
            help="a check not to run, e.g. camera or board while the kiosk holds them "
            "(repeatable): " + ", ".join(CHECKS),
        ),
    ) -> None:
        """Check Python, Qt, fonts, camera, lock board, weights, database, key, groups, disk
        and clock; print the fix for each problem. Exit code 1 when any check fails."""
        from lockers.doctor import CheckResult, Status, run_checks, worst
        from lockers.errors import ConfigError

        unknown = sorted(set(skip) - set(CHECKS))
        if unknown:
            raise typer.BadParameter(f"unknown {unknown}; checks: {', '.join(CHECKS)}")

        os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")  # our message, not OpenCV's
        out = Console(highlight=False, soft_wrap=True)
        settings = None
        try:
            settings = state(ctx).settings()
        except ConfigError as exc:
            results = [CheckResult("config", Status.FAIL, exc.message, exc.hint)]
        else:
            waiting = nullcontext() if as_json else out.status("checking…", spinner="dots")
            with waiting:
                results = run_checks(settings, camera_seconds=camera_seconds, skip=skip)
        overall = worst(results)
        if as_json:
            _print_json(results, overall, settings.database.kiosk_id if settings else None)
        else:
            _print_table(out, results, overall)
        if overall is Status.FAIL:
            raise typer.Exit(1)


def _print_json(results: list[CheckResult], overall: Status, kiosk_id: str | None) -> None:
    from lockers.doctor import Status

    summary = {s.value: sum(r.status is s for r in results) for s in Status}
    # Plain JSON on stdout (no rich markup or wrapping): fleet tooling parses it.
    typer.echo(
        json.dumps(
            {
                "status": overall.value,
                "summary": summary,
                # Which kiosk this is, for a fleet dashboard collecting many reports.
                "host": socket.gethostname(),
                "kiosk_id": kiosk_id,
                "lockers_version": _version(),
                "checked_at": datetime.now(UTC).isoformat(timespec="seconds"),
                "checks": [r.to_json() for r in results],
            },
            ensure_ascii=False,
            indent=2,
        )
    )


def _print_table(out: Console, results: list[CheckResult], overall: Status) -> None:
    from lockers.doctor import Status

    table = Table(show_lines=False, expand=False)
    for column in ("check", "status", "what was seen", "fix"):
        table.add_column(column, overflow="fold")
    for r in results:
        style = STYLES[r.status.value]
        table.add_row(r.name, f"[{style}]{r.status.value}[/]", r.detail, r.fix)
    out.print(table)
    counts = ", ".join(f"{sum(r.status is s for r in results)} {s.value}" for s in Status)
    out.print(f"[{STYLES[overall.value]}]{overall.value}[/]: {counts}")


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("lockers")
    except PackageNotFoundError:
        return "unknown"
