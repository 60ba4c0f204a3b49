"""Dataset commands: ``lockers dataset align|split|pairs|import-kface``.

The training code is imported inside each command, so ``lockers --help`` stays fast.
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from lockers.cli._common import state
from lockers.cli._training_common import GATE_OPTION, progress_bar
from lockers.errors import ConfigError

dataset_app = typer.Typer(
    help="Face datasets: align photos, split by identity, make pairs files.",
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
