"""Dataset commands: ``lockers dataset align|split|pairs|import-kface``.

The training code is imported inside each command, so ``lockers --help`` stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.console import Console

from lockers.cli._common import state
from lockers.cli._training_common import GATE_OPTION, progress_bar, rate_progress_bar
from lockers.errors import ConfigError

dataset_app = typer.Typer(
    help="Face datasets: import K-Face, align photos, split by identity, make pairs files.",
    no_args_is_help=True,
)


# ----------------------------------------------------------------------------- dataset


@dataset_app.command("align")
def align_cmd(
    ctx: typer.Context,
    src: Path = typer.Argument(..., help="photos, one folder per person"),
    dst: Path = typer.Argument(..., help="where to write the aligned 160x160 faces"),
    mode: str = typer.Option("aligned", "--mode", help="aligned (5-point) or crop"),
    gate: bool = GATE_OPTION,
    overwrite: bool = typer.Option(False, "--overwrite", help="redo faces already written"),
) -> None:
    """Detect, quality-check and align every photo with the kiosk's own pipeline."""
    from lockers.training.align_dataset import REPORT_NAME, align_dataset

    if mode not in ("aligned", "crop"):
        raise ConfigError(f"--mode {mode!r} is not 'aligned' or 'crop'")
    console = Console()
    settings = state(ctx).settings()
    with progress_bar(console, "aligning") as progress:
        report = align_dataset(src, dst, settings, mode, gate, overwrite, progress)  # type: ignore[arg-type]
    console.print(
        f"wrote {report.written} faces ({report.skipped_existing} already there), "
        f"rejected {len(report.rejected)} photos"
    )
    for reason, count in sorted(report.reasons.items(), key=lambda kv: -kv[1]):
        console.print(f"  {reason}: {count}")
    if report.identities_without_faces:
        console.print(
            f"[yellow]no usable face for:[/] {', '.join(report.identities_without_faces)}"
        )
    console.print(f"report: {dst / REPORT_NAME}")


@dataset_app.command("split")
def split_cmd(
    src: Path = typer.Argument(..., help="dataset, one folder per person"),
    out: Path = typer.Option(Path("split.json"), "--out", help="split file to write"),
    val_fraction: float = typer.Option(0.2, "--val-fraction", help="share of people for val"),
    seed: int = typer.Option(0, "--seed"),
) -> None:
    """Split people (not photos) into training and validation sets."""
    from lockers.training.dataset import scan_identity_tree, split_by_identity

    split = split_by_identity(scan_identity_tree(src), val_fraction, seed)
    split.save(out)
    Console().print(f"{len(split.train)} train, {len(split.val)} validation people → {out}")


@dataset_app.command("pairs")
def pairs_cmd(
    src: Path = typer.Argument(..., help="dataset, one folder per person"),
    out: Path = typer.Option(Path("pairs.csv"), "--out", help="pairs file to write (a,b,same)"),
    genuine: int = typer.Option(300, "--genuine", help="same-person pairs (at most)"),
    impostor: int = typer.Option(3000, "--impostor", help="different-person pairs (at most)"),
    split: Path | None = typer.Option(None, "--split", help="only people of this split file…"),
    subset: str = typer.Option("val", "--subset", help="…in this part: train or val"),
    seed: int = typer.Option(0, "--seed"),
) -> None:
    """Write an ``a,b,same`` pairs file for ``lockers evaluate``."""
    from lockers.training.dataset import (
        IdentitySplit,
        generate_pairs,
        scan_identity_tree,
        write_pairs_csv,
    )

    index = scan_identity_tree(src)
    if split is not None:
        if subset not in ("train", "val"):
            raise ConfigError(f"--subset {subset!r} is not 'train' or 'val'")
        chosen = IdentitySplit.load(split)
        index = index.subset(set(chosen.train if subset == "train" else chosen.val))
    pairs = generate_pairs(index, genuine, impostor, seed)
    write_pairs_csv(pairs, out)
    n_same = sum(p.same for p in pairs)
    Console().print(f"{n_same} genuine and {len(pairs) - n_same} impostor pairs → {out}")
    if len(pairs) - n_same < 1000:
        Console().print(
            "[yellow]fewer than 1000 impostor pairs: TAR at FAR=1e-3 will not be measurable[/]"
        )


@dataset_app.command("import-kface")
def import_kface_cmd(
    ctx: typer.Context,
    src: Path = typer.Argument(..., help="K-Face release: SRC/<person>/S001/L1/E01/C7.jpg"),
    dst: Path = typer.Argument(..., help="where to write the faces, one folder per person"),
    accessories: str | None = typer.Option(
        None, "--accessories", help="accessory sets to keep, e.g. S001,S002 (default: all)"
    ),
    lux: str | None = typer.Option(None, "--lux", help="light levels to keep, e.g. L1-L10"),
    expressions: str | None = typer.Option(
        None, "--expressions", help="expressions to keep, e.g. E01 or E01-E03"
    ),
    angles: str | None = typer.Option(None, "--angles", help="camera angles to keep, e.g. C4-C10"),
    workers: int = typer.Option(2, "--workers", min=1, help="worker processes (one detector each)"),
    mode: str = typer.Option("aligned", "--mode", help="aligned (5-point) or crop"),
    gate: bool = GATE_OPTION,
    box_format: str = typer.Option(
        "xywh", "--box-format", help="box files hold x y width height (xywh) or two corners (xyxy)"
    ),
    restart: bool = typer.Option(False, "--restart", help="redo every image, ignore the journal"),
) -> None:
    """Import K-Face with the kiosk's own detector, quality gate and aligner (resumable)."""
    from lockers.training.kface import import_kface
    from lockers.training.kface_layout import AxisFilter
    from lockers.training.kface_worker import ImportOptions

    if mode not in ("aligned", "crop"):
        raise ConfigError(f"--mode {mode!r} is not 'aligned' or 'crop'")
    if box_format not in ("xywh", "xyxy"):
        raise ConfigError(f"--box-format {box_format!r} is not 'xywh' or 'xyxy'")
    keep = AxisFilter.parse(accessories, lux, expressions, angles)
    console = Console()
    settings = state(ctx).settings()
    with rate_progress_bar(console, "importing") as progress:
        result = import_kface(
            src,
            dst,
            settings,
            keep,
            ImportOptions(mode, gate, box_format),
            workers,
            restart,
            progress,
        )
    _print_kface_report(console, result.report)
    console.print(f"report: {result.report_path}")


def _print_kface_report(console: Console, r: dict[str, Any]) -> None:
    from rich.table import Table

    console.print(
        f"{r['images_found']} images found, {r['images_filtered_out']} left out by the filters, "
        f"{r['images_selected']} selected: {r['written']} faces written, "
        f"{r['rejected_count']} rejected ({r['skipped_already_done']} done by an earlier run)"
    )
    for axis, rows in r["per_axis"].items():
        table = Table(title=f"per {axis}", show_edge=False, pad_edge=False)
        for column in (axis, "written", "rejected", "filtered out"):
            table.add_column(column, justify="left" if column == axis else "right")
        for value, row in rows.items():
            table.add_row(
                value, str(row["written"]), str(row["rejected"]), str(row["filtered_out"])
            )
        console.print(table)
    for reason, count in r["reasons"].items():
        console.print(f"  rejected, {reason}: {count}")
    shown = list(r["rejected"].items())[:10]
    for rel, why in shown:
        console.print(f"  [dim]{rel}: {'; '.join(why)}[/]")
    if len(r["rejected"]) > len(shown):
        console.print(f"  [dim]… {len(r['rejected']) - len(shown)} more in the report[/]")
    boxes = r["box_files"]
    console.print(
        f"box files: {boxes['located_by_box_file']} faces located by their box file, "
        f"{boxes['no_box_file']} without one (detector), {boxes['unusable']} unusable"
    )
    for why in list(boxes["problems"].values())[:10]:
        console.print(f"  [yellow]box file skipped[/] {why}")
    if r["people_without_faces"]:
        console.print(
            f"[yellow]no usable image for {len(r['people_without_faces'])} people:[/] "
            + ", ".join(r["people_without_faces"][:20])
        )
    speed = r["speed"]
    if speed["images_per_s"]:
        steady = speed["images_per_s_after_startup"]
        console.print(
            f"speed: {speed['images_processed']} images in {speed['wall_s']:.1f} s with "
            f"{speed['workers']} worker(s) on {speed['cpu_count']} cores = "
            f"{speed['images_per_s']:.1f} images/s"
            + (f" ({steady:.1f} images/s after worker start-up)" if steady else "")
        )
