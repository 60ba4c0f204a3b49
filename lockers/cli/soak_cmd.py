"""``lockers soak``: thousands of rentals through the real services with crashes and faults,
invariants checked after every cycle; a table (or ``--json``) of what happened."""

from __future__ import annotations

import errno
import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

if TYPE_CHECKING:
    from lockers.soak.options import SoakOptions
    from lockers.soak.result import SoakResult


Kiosks = Annotated[int, typer.Option(min=1, help="kiosk processes sharing one database")]
Backend = Annotated[
    str, typer.Option(help="sqlite (one file) or postgresql (the harness starts its own server)")
]
DatabaseUrl = Annotated[
    str | None,
    typer.Option(help="an empty PostgreSQL database of yours instead (no restart faults then)"),
]
Cycles = Annotated[int, typer.Option(min=1, help="stop after this many cycles (one op per kiosk)")]
Minutes = Annotated[float, typer.Option(min=0.01, help="stop after this long")]
Registrations = Annotated[
    int | None,
    typer.Option(min=1, help="stop once every kiosk has this many registrations whose door opened"),
]
Kills = Annotated[
    int | None,
    typer.Option(min=1, help="stop once this many SIGKILLs (and --board-faults) were injected"),
]
BoardFaults = Annotated[
    int | None,
    typer.Option(min=1, help="stop once this many board faults (and --kills) were injected"),
]
Lockers = Annotated[int, typer.Option(min=2, max=16, help="lockers (one emulated board per kiosk)")]
Protocol = Annotated[str, typer.Option(help="board protocol: kerong, modbus or xor")]
SigkillRate = Annotated[float, typer.Option(min=0, max=1, help="kiosk SIGKILLs per op")]
BoardFaultRate = Annotated[float, typer.Option(min=0, max=1, help="board faults per op")]
DbFaultRate = Annotated[
    float, typer.Option(min=0, max=1, help="PostgreSQL restarts / full disks per cycle")
]
Seed = Annotated[int, typer.Option(help="random seed (the same seed replays the same choices)")]
WorkDir = Annotated[
    Path | None,
    typer.Option(help="keep the run's database, configs and logs here (default: a temporary one)"),
]
AsJson = Annotated[
    bool,
    typer.Option(
        "--json",
        help="print one JSON object (each violation with its locker's and person's history)",
    ),
]


def soak(
    kiosks: Kiosks = 2,
    backend: Backend = "sqlite",
    database_url: DatabaseUrl = None,
    cycles: Cycles = 200,
    minutes: Minutes = 2.0,
    registrations: Registrations = None,
    kills: Kills = None,
    board_faults: BoardFaults = None,
    lockers: Lockers = 16,
    protocol: Protocol = "kerong",
    sigkill_rate: SigkillRate = 0.1,
    board_fault_rate: BoardFaultRate = 0.1,
    db_fault_rate: DbFaultRate = 0.01,
    seed: Seed = 1,
    work_dir: WorkDir = None,
    as_json: AsJson = False,
) -> None:
    """Soak the kiosk: register, retrieve, staff resets, out-of-service, expiry, failed
    recognitions and duplicates, with SIGKILLs, board faults and database faults at the given
    rates. Exits 1 when any invariant was violated."""
    from lockers.errors import LockersError
    from lockers.soak.options import SoakOptions

    if backend not in ("sqlite", "postgresql"):
        raise LockersError(f"--backend {backend!r} is unknown", hint="use sqlite or postgresql")
    if protocol not in ("kerong", "modbus", "xor"):
        raise LockersError(
            f"--protocol {protocol!r} cannot be soaked",
            hint="use kerong, modbus or xor (lcus boards have no door sensor)",
        )
    options = SoakOptions(
        kiosks=kiosks,
        backend=backend,  # type: ignore[arg-type]
        database_url=database_url,
        lockers=lockers,
        protocol=protocol,  # type: ignore[arg-type]
        max_cycles=cycles,
        max_seconds=minutes * 60.0,
        registrations=registrations,
        target_sigkills=kills,
        target_board_faults=board_faults,
        seed=seed,
        sigkill_rate=sigkill_rate,
        board_fault_rate=board_fault_rate,
        db_fault_rate=db_fault_rate,
        work_dir=work_dir,
    )
    err = Console(stderr=True)
    with _progress(err, disable=as_json or not err.is_terminal) as progress:
        result = _run_loud(options, _on_cycle(progress, options))
    figures = result.to_dict()
    if as_json:
        typer.echo(json.dumps(figures, indent=2))
    else:
        _print(figures)
    if not result.clean:
        raise typer.Exit(1)


def _run_loud(options: SoakOptions, on_cycle: Callable[[SoakResult], None]) -> SoakResult:
    """:func:`run_soak`, with a broken pipe or an EOF inside the harness (a kiosk process's
    pipe, the forkserver's, a server's) raised as an error of its own: click takes any EPIPE
    for a closed stdout and exits 1 without a word, and an EOFError for a closed stdin
    ("Aborted!"), which would hide why the run failed."""
    from lockers.soak.runner import run_soak

    try:
        return run_soak(options, on_cycle)
    except EOFError as exc:
        raise RuntimeError(f"the soak harness lost a pipe (not stdin): {exc!r}") from exc
    except OSError as exc:
        if exc.errno != errno.EPIPE:
            raise
        raise RuntimeError(f"the soak harness lost a pipe (not stdout): {exc!r}") from exc


def _progress(console: Console, *, disable: bool) -> Progress:
    return Progress(
        TextColumn("[bold]soak[/]"),
        BarColumn(),
        TextColumn("{task.fields[cycles]} cycles"),
        TextColumn("{task.fields[figures]}"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=disable,
    )


def _on_cycle(progress: Progress, o: SoakOptions) -> Callable[[SoakResult], None]:
    """The progress bar's update after every cycle: it follows whichever bound stops the run
    first."""
    task = progress.add_task("soak", total=1.0, cycles=0, figures="starting")

    def on_cycle(result: SoakResult) -> None:
        done = max(result.cycles / o.max_cycles, result.elapsed_s / o.max_seconds)
        if o.registrations and len(result.registrations) == o.kiosks:
            done = max(done, min(result.registrations.values()) / o.registrations)
        targets = [
            (result.sigkills, o.target_sigkills),
            (result.board_faults, o.target_board_faults),
        ]
        fractions = [count / target for count, target in targets if target]
        if fractions:
            done = max(done, min(fractions))
        bad = sum(result.violations.values())
        progress.update(
            task,
            completed=min(1.0, done),
            cycles=result.cycles,
            figures=f"{result.sigkills} kills, {result.board_faults} board faults, "
            f"{bad} violations",
        )

    return on_cycle


def _print(figures: dict[str, Any]) -> None:
    console = Console()
    o = figures["options"]
    console.print(
        f"[bold]soak[/]: {o['kiosks']} kiosks on {o['backend']}, {o['lockers']} lockers "
        f"({o['protocol']}), {figures['cycles']} cycles in {figures['elapsed_s']:.0f} s "
        f"(stopped: {figures['stopped_because']})"
    )
    faults = Table("fault", "injected")
    faults.add_row("[bold]SIGKILL (all)[/]", str(figures["sigkills"]))
    faults.add_row("[bold]board (all)[/]", str(figures["board_faults"]))
    for name, count in figures["faults"].items():
        faults.add_row(name, str(count))
    console.print(faults)
    ops = Table("operation:outcome", "count")
    for name, count in figures["ops"].items():
        ops.add_row(name, str(count))
    for kiosk, count in figures["registrations_opened"].items():
        ops.add_row(f"registrations opened on {kiosk}", str(count))
    for name, count in figures["counts"].items():
        ops.add_row(name.replace("_", " "), str(count))
    ops.add_row("kiosk restarts (start-up check run)", str(figures["kiosk_restarts"]))
    for name, count in figures["startup_findings"].items():
        ops.add_row(f"start-up check found {name}", str(count))
    console.print(ops)
    invariants = Table("invariant", "violations")
    for name, count in figures["violations"].items():
        style = "green" if count == 0 else "bold red"
        invariants.add_row(name, f"[{style}]{count}[/]")
    console.print(invariants)
    for line in figures["violation_examples"]:
        console.print(f"[red]-[/] {line}")
    if figures["violation_examples"]:
        console.print("(--json gives each violation with its locker's and person's history)")
    for line in figures["skipped"]:
        console.print(f"[yellow]skipped[/] {line}")
    verdict = "[green]0 violations[/]" if figures["clean"] else "[bold red]VIOLATIONS[/]"
    console.print(verdict)


def register(app: typer.Typer) -> None:
    app.command("soak")(soak)
