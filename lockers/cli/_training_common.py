"""What the training, evaluation and dataset commands share: options, progress bar, banner."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import typer
from rich.console import Console

UNTRAINED_OPTION = typer.Option(
    False,
    "--dev-allow-untrained",
    help="DEVELOPMENT ONLY: random weights when none are installed (figures mean nothing).",
)
GATE_OPTION = typer.Option(
    True, "--gate/--no-gate", help="apply the kiosk's quality gate (--no-gate keeps weak faces)"
)
PREALIGNED_OPTION = typer.Option(
    False, "--prealigned", help="images are already aligned 160x160 faces (from dataset align)"
)


@contextmanager
def progress_bar(console: Console, label: str) -> Iterator[Callable[[int, int], None]]:
    """A rich bar and the ``progress(done, total)`` callback that drives it."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    bar = Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    )
    task = bar.add_task(label, total=None)

    def update(done: int, total: int) -> None:
        bar.update(task, completed=done, total=total)

    with bar:
        yield update


def untrained_banner(console: Console) -> None:
    console.print(
        "[bold white on red] UNTRAINED RANDOM WEIGHTS [/] these figures say nothing about "
        "recognition (--dev-allow-untrained); never use them to judge or configure a kiosk.",
    )


@contextmanager
def rate_progress_bar(console: Console, label: str) -> Iterator[Callable[[int, int], None]]:
    """Like :func:`progress_bar`, with the rate in items per second beside the ETA."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    bar = Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        "{task.fields[rate]}",
        TimeElapsedColumn(),
        "ETA",
        TimeRemainingColumn(),
        console=console,
        transient=True,
    )
    task = bar.add_task(label, total=None, rate="")

    def update(done: int, total: int) -> None:
        speed = bar.tasks[0].speed
        bar.update(task, completed=done, total=total, rate=f"{speed:.1f}/s" if speed else "")

    with bar:
        yield update


class RichTrainObserver:
    """Training progress on the terminal: a bar per epoch and a line of metrics after it."""

    def __init__(self, console: Console) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

        self.console = console
        self.bar = Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            "{task.fields[loss]}",
            console=console,
        )
        self.task: Any = None

    def on_start(self, epochs: int, start_epoch: int, steps_per_epoch: int) -> None:
        self.epochs, self.steps = epochs, steps_per_epoch
        if start_epoch:
            self.console.print(f"resuming after epoch {start_epoch}")

    def on_step(self, epoch: int, step: int, loss: float) -> None:
        if self.task is None:
            self.task = self.bar.add_task(
                f"epoch {epoch + 1}/{self.epochs}", total=self.steps, loss=""
            )
        self.bar.update(self.task, completed=step + 1, loss=f"loss {loss:.4f}")

    def on_epoch(self, row: dict[str, float]) -> None:
        if self.task is not None:
            self.bar.remove_task(self.task)
            self.task = None
        shown = ", ".join(
            f"{k} {v:.4g}" for k, v in row.items() if k != "epoch" and isinstance(v, float)
        )
        self.console.print(f"epoch {int(row['epoch'])}: {shown}")
