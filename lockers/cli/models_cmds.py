"""``lockers models ...``: download, import and verify the model weights.

Embedding weights by default (the ``recognition`` section: ``weights``, ``weights_url``);
``--anti-spoof`` for the passive anti-spoofing models (the ``liveness`` section:
``anti_spoof_dir``, ``anti_spoof_models`` with each file's URL and pinned SHA-256).
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
    from lockers.config import Settings
    from lockers.vision.modelstore import LoadedWeights, ProgressCallback
    from lockers.vision.modelstore.antispoof import LoadedAntiSpoof

app = typer.Typer(
    help="Model weights (embedding; --anti-spoof: passive anti-spoofing): download, import, "
    "verify.",
    no_args_is_help=True,
)
_ANTI_SPOOF = typer.Option(
    False, "--anti-spoof", help="the passive anti-spoofing models (liveness.anti_spoof_models)"
)


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
    anti_spoof: bool = _ANTI_SPOOF,
    url_prefix: str | None = typer.Option(
        None,
        "--url-prefix",
        help="--anti-spoof: a site mirror holding the files under their names (URL/FILE)",
    ),
) -> None:
    """Fetch the VGGFace2 weights (or, with --anti-spoof, the anti-spoofing models) with resume,
    verify them, record them in the manifest."""
    from lockers.errors import WeightsError
    from lockers.vision import modelstore as w

    if anti_spoof:
        if url or sha256:
            raise WeightsError(
                "--url and --sha256 name one file; the anti-spoofing models are several",
                hint="use --url-prefix for a site mirror; each file's URL and SHA-256 are in "
                "liveness.anti_spoof_models in config.yaml",
            )
        _download_anti_spoof(state(ctx).settings(), dest, url_prefix, force, timeout_s)
        return
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
    anti_spoof: bool = _ANTI_SPOOF,
) -> None:
    """Verify a weights file and install it (air-gapped sites, fine-tuned weights)."""
    from lockers.vision import modelstore as w

    if anti_spoof:
        _import_anti_spoof(state(ctx).settings(), file, dest)
        return
    dest = dest or state(ctx).settings().recognition.weights
    console = Console()
    loaded = w.import_weights(file, dest, version=version)
    _print_weights(console, loaded)


@app.command("verify")
def verify_cmd(
    ctx: typer.Context,
    path: Path | None = typer.Argument(None, help="weights file (default recognition.weights)"),
    anti_spoof: bool = _ANTI_SPOOF,
) -> None:
    """Check a weights file: readable, unchanged since recorded, fits the architecture
    (--anti-spoof: every anti-spoofing model, and its ONNX export against torch)."""
    from lockers.vision import modelstore as w

    if anti_spoof:
        _verify_anti_spoof(state(ctx).settings())
        return
    path = path or state(ctx).settings().recognition.weights
    _print_weights(Console(), w.load_weights(path))


@app.command("list")
def list_cmd(
    ctx: typer.Context,
    directory: Path | None = typer.Argument(
        None, help="models folder (default: the folder of recognition.weights)"
    ),
    anti_spoof: bool = _ANTI_SPOOF,
) -> None:
    """Show the verified weights files the manifest records (without re-hashing them)."""
    from lockers.vision import modelstore as w

    settings = state(ctx).settings()
    default = (
        settings.liveness.anti_spoof_dir if anti_spoof else settings.recognition.weights.parent
    )
    directory = directory or default
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


# --------------------------------------------------------------------------- anti-spoofing


def _download_anti_spoof(
    settings: Settings, dest: Path | None, url_prefix: str | None, force: bool, timeout_s: float
) -> None:
    from lockers.errors import WeightsError
    from lockers.vision.modelstore import antispoof as a

    liveness = settings.liveness
    directory = dest or liveness.anti_spoof_dir
    console = Console()
    for spec in liveness.anti_spoof_models:
        path = directory / spec.file
        if not force and path.is_file():
            try:
                present = a.load_antispoof(path, spec)
            except WeightsError:
                present = None  # unusable: a fresh copy replaces it once verified
            if present is not None and present.sha256 == spec.sha256:
                console.print(f"{spec.file}: already present and verified (--force fetches again)")
                _print_anti_spoof(console, present)
                continue
        url = url_prefix.rstrip("/") + "/" + spec.file if url_prefix else spec.url
        console.print(f"downloading {url}\n         to {path}", soft_wrap=True)
        with _progress_bar(console) as progress:
            loaded = a.download_antispoof(url, path, spec, progress=progress, timeout_s=timeout_s)
        _print_anti_spoof(console, loaded)


def _import_anti_spoof(settings: Settings, file: Path, dest: Path | None) -> None:
    from lockers.errors import WeightsError
    from lockers.vision.modelstore import antispoof as a
    from lockers.vision.modelstore.fetch import hash_or_fail

    liveness = settings.liveness
    if not file.is_file():
        raise WeightsError(
            f"the file to import, {file}, does not exist",
            hint="give the path of the .pth file you copied onto this machine",
        )
    # The pinned SHA-256 says which model a file is, whatever it is called now.
    digest = hash_or_fail(file)
    by_pin = [m for m in liveness.anti_spoof_models if m.sha256 == digest]
    by_name = [m for m in liveness.anti_spoof_models if m.file == file.name]
    specs = by_pin or by_name
    if not specs:
        names = ", ".join(m.file for m in liveness.anti_spoof_models)
        raise WeightsError(
            f"{file} is none of the configured anti-spoofing models (by SHA-256 or name: {names})",
            hint="import the published files unchanged, or add the model to "
            "liveness.anti_spoof_models in config.yaml",
        )
    spec = specs[0]
    loaded = a.import_antispoof(file, (dest or liveness.anti_spoof_dir) / spec.file, spec)
    _print_anti_spoof(Console(), loaded)


def _verify_anti_spoof(settings: Settings) -> None:
    from lockers.vision.antispoof import agreement_of_cached_export
    from lockers.vision.modelstore import antispoof as a

    liveness = settings.liveness
    console = Console()
    for spec in liveness.anti_spoof_models:
        loaded = a.load_antispoof(a.model_path(liveness, spec), spec)
        _print_anti_spoof(console, loaded)
        diff = agreement_of_cached_export(loaded, liveness.threads)
        console.print(f"ONNX export:   agrees with torch (largest |difference| {diff:.1e})")
    problems = a.verified_files(liveness)
    for problem in problems:
        console.print(f"[bold yellow]not recorded[/]: {problem}", soft_wrap=True)
    if problems:
        console.print("record them with `lockers models import --anti-spoof FILE`")


def _print_anti_spoof(console: Console, loaded: LoadedAntiSpoof) -> None:
    console.print(f"path:          {loaded.path}", highlight=False, soft_wrap=True)
    console.print(f"sha256:        {loaded.sha256}", highlight=False, soft_wrap=True)
    console.print(f"model version: {loaded.model_version}", highlight=False, soft_wrap=True)
    console.print(
        f"[bold green]OK[/]: fits {loaded.architecture} (80x80 crop at {loaded.scale:g}x the "
        "face box; print / real / screen)"
    )
