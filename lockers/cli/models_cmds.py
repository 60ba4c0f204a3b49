"""``lockers models ...``: download, import and verify the embedding weights.

Defaults come from the ``recognition`` section of the config (``weights``, ``weights_url``).
Failures raise :class:`lockers.errors.WeightsError`; the root command prints message and hint.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.table import Table

from lockers.cli._common import state

if TYPE_CHECKING:
    from lockers.vision.modelstore import LoadedWeights, ProgressCallback

app = typer.Typer(help="Embedding model weights: download, import, verify.", no_args_is_help=True)


@app.command("download")
def download_cmd(
    ctx: typer.Context,
    url: str | None = typer.Option(
        None, "--url", help="where to fetch from (default recognition.weights_url; a site mirror)"
    ),
    sha256: str | None = typer.Option(
        None, "--sha256", help="SHA-256 the file must have (hex); checked before it is used"
    ),
    dest: Path | None = typer.Option(
        None, "--dest", help="where to put it (default recognition.weights)"
    ),
    force: bool = typer.Option(False, "--force", help="download even if valid weights are there"),
    timeout_s: float = typer.Option(30.0, "--timeout-s", min=1.0, help="network timeout, seconds"),
) -> None:
    """Fetch the VGGFace2 weights with resume, verify them, record them in the manifest."""
    from lockers.errors import WeightsError
    from lockers.vision import modelstore as w

    recognition = state(ctx).settings().recognition
    url = url or recognition.weights_url
    dest = dest or recognition.weights
    console = Console()
    if not force and dest.is_file():
        try:
            present = w.load_weights(dest)
        except WeightsError:
            present = None  # unusable: fetch a fresh copy; it replaces the file only once verified
        if present is not None and (sha256 is None or present.sha256 == sha256.strip().lower()):
            console.print("already present and verified (use --force to fetch again)")
            _print_weights(console, present)
            return
    console.print(f"downloading {url}\n         to {dest}", soft_wrap=True)
    with _progress_bar(console) as progress:
        loaded = w.download_weights(
            url, dest, expected_sha256=sha256, progress=progress, timeout_s=timeout_s
        )
    _print_weights(console, loaded)


@app.command("import")
def import_cmd(
    ctx: typer.Context,
    file: Path = typer.Argument(..., help="a state_dict file copied onto this machine"),
    version: str | None = typer.Option(
        None, "--version", help="model version to record (default: derived from the SHA-256)"
    ),
    dest: Path | None = typer.Option(
        None, "--dest", help="where to put it (default recognition.weights)"
    ),
) -> None:
    """Verify a weights file and install it (air-gapped sites, fine-tuned weights)."""
    from lockers.vision import modelstore as w

    dest = dest or state(ctx).settings().recognition.weights
    console = Console()
    loaded = w.import_weights(file, dest, version=version)
    _print_weights(console, loaded)


@app.command("verify")
def verify_cmd(
    ctx: typer.Context,
    path: Path | None = typer.Argument(None, help="weights file (default recognition.weights)"),
) -> None:
    """Check a weights file: readable, unchanged since recorded, fits the architecture."""
    from lockers.vision import modelstore as w

    path = path or state(ctx).settings().recognition.weights
    _print_weights(Console(), w.load_weights(path))


@app.command("list")
def list_cmd(
    ctx: typer.Context,
    directory: Path | None = typer.Argument(
        None, help="models folder (default: the folder of recognition.weights)"
    ),
) -> None:
    """Show the verified weights files the manifest records (without re-hashing them)."""
    from lockers.vision import modelstore as w

    directory = directory or state(ctx).settings().recognition.weights.parent
    entries = w.read_manifest(directory)
    console = Console()
    if not entries:
        console.print(
            f"no verified weights recorded in {directory / w.MANIFEST_NAME}; "
            "run `lockers models download` or `lockers models import FILE`",
            soft_wrap=True,
        )
        return
    table = Table(title=str(directory / w.MANIFEST_NAME))
    for column in ("file", "model version", "sha256", "size", "verified at", "source", "on disk"):
        table.add_column(column, overflow="fold")
    for entry in entries.values():
        file = directory / entry.file
        if not file.is_file():
            on_disk = "[red]missing[/]"
        elif file.stat().st_size != entry.size:
            on_disk = "[red]size differs[/]"
        else:
            on_disk = "present"
        table.add_row(
            entry.file,
            entry.model_version,
            entry.sha256[:16] + "…",
            f"{entry.size / 1e6:.1f} MB",
            entry.verified_at,
            entry.source,
            on_disk,
        )
    console.print(table)


def _print_weights(console: Console, loaded: LoadedWeights) -> None:
    console.print(f"path:          {loaded.path}", highlight=False, soft_wrap=True)
    console.print(f"sha256:        {loaded.sha256}", highlight=False, soft_wrap=True)
    console.print(f"model version: {loaded.model_version}", highlight=False, soft_wrap=True)
    groups = loaded.groupface_groups
    network = "InceptionResnetV1" + (f" + GroupFace (K={groups})" if groups else "")
    console.print(f"[bold green]OK[/]: fits {network} (512-d embeddings)")


@contextmanager
def _progress_bar(console: Console) -> Iterator[ProgressCallback]:
    """A rich bar (bytes, speed, ETA) and the ``progress(done, total)`` callback that drives it."""
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    bar = Progress(
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=console,
    )
    task = bar.add_task("weights", total=None)
    started = False

    def update(done: int, total: int | None) -> None:
        nonlocal started
        if not started:
            # A resumed download starts part-way: that must not count as transfer speed.
            bar.reset(task, completed=done, total=total)
            started = True
        else:
            bar.update(task, completed=done, total=total)

    with bar:
        yield update
