"""Training and evaluation commands: ``train``, ``evaluate``, ``calibrate`` (and the ``dataset``
group from :mod:`lockers.cli.dataset_cmds`).

torch and the training code are imported inside each command, so ``lockers --help`` stays fast.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console

from lockers.cli._common import state
from lockers.cli._training_common import (
    GATE_OPTION,
    PREALIGNED_OPTION,
    UNTRAINED_OPTION,
    RichTrainObserver,
    progress_bar,
    untrained_banner,
)
from lockers.errors import ConfigError

if TYPE_CHECKING:  # the training code (and torch) load only when a command runs
    from lockers.training.calibrate import Calibration
    from lockers.training.evaluate import EvalResult
    from lockers.training.trainer import TrainJob


def register(app: typer.Typer) -> None:
    """Add the training command groups to the root app."""
    from lockers.cli.dataset_cmds import dataset_app

    app.add_typer(dataset_app, name="dataset")
    app.command("train")(train_cmd)
    app.command("evaluate")(evaluate_cmd)
    app.command("calibrate")(calibrate_cmd)


# ----------------------------------------------------------------------------- train


_RECIPE_OPTION = typer.Option(
    None, "--recipe", help="YAML recipe, or a bundled one (finetune-arcface, ...)"
)
_INITIAL_WEIGHTS_OPTION = typer.Option(
    None, "--weights", help="start from these weights (VGGFace2 file or a checkpoint)"
)
_GROUPFACE_OPTION = typer.Option(
    None,
    "--groupface",
    min=0,
    help="add a GroupFace block with K groups (arcface/cosface; 0 removes the recipe's)",
)
_SET_OPTION = typer.Option([], "--set", help="any recipe key: --set warmup_steps=200")
_PROCESSES_OPTION = typer.Option(
    1, "--processes", help="local DDP processes (gloo on CPU); use torchrun for multi-GPU"
)


def train_cmd(
    data: Path = typer.Argument(..., help="aligned faces, one folder per person"),
    out: Path = typer.Option(..., "--out", help="run folder: checkpoints, metrics, weights"),
    recipe: Path | None = _RECIPE_OPTION,
    weights: Path | None = _INITIAL_WEIGHTS_OPTION,
    from_scratch: bool = typer.Option(False, "--from-scratch", help="random initialisation"),
    resume: Path | None = typer.Option(None, "--resume", help="continue from a checkpoint"),
    split: Path | None = typer.Option(None, "--split", help="split file (dataset split)"),
    loss: str | None = typer.Option(None, "--loss", help="softmax, cosface, arcface, ..."),
    groupface: int | None = _GROUPFACE_OPTION,
    epochs: int | None = typer.Option(None, "--epochs"),
    lr: float | None = typer.Option(None, "--lr"),
    batch_size: int | None = typer.Option(None, "--batch-size", help="global batch"),
    schedule: str | None = typer.Option(None, "--schedule", help="constant, step or cosine"),
    seed: int | None = typer.Option(None, "--seed"),
    set_: list[str] = _SET_OPTION,
    version: str | None = typer.Option(None, "--version", help="model version of the output"),
    device: str = typer.Option("auto", "--device", help="auto, cpu or cuda"),
    processes: int = _PROCESSES_OPTION,
) -> None:
    """Fine-tune InceptionResnetV1; writes a weights file for ``lockers models import``.

    Multi-GPU or multi-node: ``torchrun --nproc-per-node=N $(which lockers) train ...``; each
    process joins through env:// and rank 0 writes the outputs.
    """
    from lockers.training.dataset import IdentitySplit
    from lockers.training.recipe import load_recipe, parse_set_options, with_groupface_groups
    from lockers.training.trainer import TrainJob, train

    overrides = parse_set_options(set_)
    overrides.update(
        {"loss": loss, "epochs": epochs, "lr": lr, "batch_size": batch_size,
         "schedule": schedule, "seed": seed}
    )  # fmt: skip
    train_recipe = load_recipe(recipe, overrides)
    if groupface is not None:
        train_recipe = with_groupface_groups(train_recipe, groupface)
    job = TrainJob(
        data_root=data,
        out_dir=out,
        recipe=train_recipe,
        weights=weights,
        from_scratch=from_scratch,
        resume=resume,
        split=IdentitySplit.load(split) if split else None,
        model_version=version,
        device=device,
    )
    console = Console()
    if processes > 1:
        _train_in_processes(console, job, processes)
        return
    result = train(job, RichTrainObserver(console))
    if result.weights_path is not None:
        console.print(f"weights: {result.weights_path} (model version {result.model_version})")
        console.print(f"model card: {result.card_path}")
        console.print(
            f"import with: lockers models import {result.weights_path} "
            f"--version {result.model_version}"
        )


def _train_in_processes(console: Console, job: TrainJob, processes: int) -> None:
    """``--processes N``: DDP in N local processes; the outputs named from rank 0's card."""
    from lockers.training.launch import launch_local

    console.print(f"training in {processes} local processes…")
    launch_local(job, processes)
    out = job.out_dir
    cards = sorted(out.glob("*.json"), key=lambda p: p.stat().st_mtime)
    cards = [c for c in cards if c.name != "metrics.json"]
    if cards:
        card = json.loads(cards[-1].read_text(encoding="utf-8"))
        console.print(f"weights: {out / (card['model_version'] + '.pt')}")
        console.print(f"import with: {card['import_command']}")


# ----------------------------------------------------------------------------- evaluate


_BACKEND_OPTION = typer.Option(
    "config", "--backend", help="torch, onnx, both (eager vs ONNX), or config"
)
_COMPARE_OPTION = typer.Option(
    False, "--compare", help="compare the weights files given as arguments (first = baseline)"
)
_MODELS_ARGUMENT = typer.Argument(
    None, help="with --compare: weights files side by side ('untrained' = random weights)"
)
_COMPARE_FAR_OPTION = typer.Option(
    1e-3, "--target-far", help="with --compare: the site's FAR, for each model's threshold"
)


def evaluate_cmd(
    ctx: typer.Context,
    pairs: Path = typer.Option(..., "--pairs", help="a,b,same CSV or LFW pairs.txt"),
    images_root: Path = typer.Option(..., "--images-root", help="pair paths are relative to it"),
    out: Path = typer.Option(Path("evaluation"), "--out", help="folder for report and plots"),
    weights: Path | None = typer.Option(None, "--weights", help="default: the configured file"),
    backend: str = _BACKEND_OPTION,
    mode: str = typer.Option("config", "--mode", help="aligned, crop, both, or config"),
    prealigned: bool = PREALIGNED_OPTION,
    gate: bool = GATE_OPTION,
    folds: int = typer.Option(10, "--folds"),
    allow_untrained: bool = UNTRAINED_OPTION,
    compare: bool = _COMPARE_OPTION,
    models: list[Path] | None = _MODELS_ARGUMENT,
    target_far: float = _COMPARE_FAR_OPTION,
) -> None:
    """Verification accuracy (k-fold), ROC AUC, EER and TAR@FAR, with ROC/DET plots.

    ``--compare W1 W2 ...`` puts several models side by side on the same pairs and crops.
    """
    from lockers.training.evaluate import EvalJob, evaluate

    settings = state(ctx).settings()
    if models and not compare:
        raise ConfigError(
            f"weights files given without --compare: {', '.join(map(str, models))}",
            hint="add --compare to compare them, or use --weights FILE for one model",
        )
    if compare:
        if weights is not None or backend not in ("config", "onnx"):
            raise ConfigError(
                "--compare runs every model given as an argument on the serving back-end (onnx)",
                hint="drop --weights and --backend; list the weights files after --compare",
            )
        modes = _choice(mode, ("aligned", "crop"), settings.recognition.input_mode, "--mode")
        if len(modes) != 1:
            raise ConfigError("--compare scores one input mode", hint="--mode aligned or crop")
        _compare(
            ctx, models or [], pairs, images_root, out, modes[0], prealigned, gate, folds,
            allow_untrained, target_far,
        )  # fmt: skip
        return
    backends = _choice(backend, ("torch", "onnx"), settings.recognition.backend, "--backend")
    modes = _choice(mode, ("aligned", "crop"), settings.recognition.input_mode, "--mode")
    job = EvalJob(
        pairs, images_root, out, weights, backends, modes,  # type: ignore[arg-type]
        "prealigned" if prealigned else "detect", gate, allow_untrained, folds,
    )  # fmt: skip
    console = Console()
    with progress_bar(console, "faces") as progress:
        result = evaluate(job, settings, progress)
    _print_evaluation(console, result)


def _print_evaluation(console: Console, result: EvalResult) -> None:
    report = result.report
    if result.untrained:
        untrained_banner(console)
    _print_variants(console, report)
    console.print(
        f"{report['pairs_used']} of {report['pairs_total']} pairs used; "
        f"{len(report['images_rejected'])} images rejected"
    )
    for name, diff in report["agreement"].items():
        console.print(f"agreement {name}: max |Δscore| = {diff:.2e}")
    console.print(f"report: {result.report_path}")
    if result.untrained:
        untrained_banner(console)


def _compare(
    ctx: typer.Context, models: list[Path], pairs: Path, images_root: Path, out: Path,
    mode: str, prealigned: bool, gate: bool, folds: int, allow_untrained: bool,
    target_far: float,
) -> None:  # fmt: skip
    from rich.table import Table

    from lockers.training.compare import CompareJob, compare_models
    from lockers.training.compare_markdown import notes, table

    job = CompareJob(
        pairs, images_root, out, list(models), mode,  # type: ignore[arg-type]
        "prealigned" if prealigned else "detect", gate, allow_untrained, folds,
        target_far=target_far,
    )  # fmt: skip
    console = Console()
    with progress_bar(console, "faces") as progress:
        result = compare_models(job, state(ctx).settings(), progress)
    report = result.report
    if result.any_untrained:
        console.print(f"[bold white on red] {report['warning']} [/]")
    headers, rows = table(report, compact=True)
    grid = Table(
        title=f"{len(rows)} models on {report['n_genuine']} genuine / "
        f"{report['n_impostor']} impostor pairs ({report['input_mode']} crops)"
    )
    for header in headers:
        grid.add_column(header)
    for row in rows:
        grid.add_row(*row, style="bold red" if "UNTRAINED" in row[0] else None)
    console.print(grid)
    for line in notes(report):
        console.print(f"[dim]{line}[/]")
    console.print(
        f"{report['pairs_used']} of {report['pairs_total']} pairs used; "
        f"{len(report['images_rejected'])} images rejected; "
        f"wall time {report['timing_s']['total']:.1f} s"
    )
    console.print(f"report: {result.markdown_path}, {result.report_path}, roc.png, det.png")
    if result.any_untrained:
        console.print(f"[bold white on red] {report['warning']} [/]")


def _choice(value: str, allowed: tuple[str, ...], configured: str, flag: str) -> tuple[str, ...]:
    if value == "config":
        return (configured,)
    if value == "both":
        return allowed
    if value not in allowed:
        raise ConfigError(f"{flag} {value!r} is not one of {', '.join(allowed)}, both, config")
    return (value,)


def _print_variants(console: Console, report: dict[str, Any]) -> None:
    from rich.table import Table

    variants = report["variants"]
    first = next(iter(variants.values()))
    table = Table(
        title=f"verification ({first['n_genuine']} genuine, {first['n_impostor']} impostor pairs)"
    )
    for column in ("variant", "accuracy (10-fold)", "AUC", "EER"):
        table.add_column(column)
    for t in first["tar_at_far"]:
        table.add_column(f"TAR@FAR={t['target_far']:g}")
    for name, v in variants.items():
        table.add_row(
            name,
            f"{v['accuracy']['mean']:.4f} ± {v['accuracy']['std']:.4f}",
            f"{v['auc']:.4f}",
            f"{v['eer']['eer']:.4f}",
            *(f"{t['tar']:.3f}" + ("" if t["supported"] else " *") for t in v["tar_at_far"]),
        )
    console.print(table)
    for t in first["tar_at_far"]:
        if not t["supported"]:
            console.print(f"[yellow]* {t['note']}[/]")


# ----------------------------------------------------------------------------- calibrate


_REPORT_DIR_OPTION = typer.Option(
    None, "--report-dir", help="evidence folder (default: calibration/ beside the config)"
)
_FORCE_OPTION = typer.Option(
    False, "--force", help="pick values even when the data cannot support the target FAR"
)


def calibrate_cmd(
    ctx: typer.Context,
    data: Path = typer.Argument(..., help="the site's enrolment photos, one folder per person"),
    target_far: float = typer.Option(1e-3, "--target-far", help="false-accept rate to meet"),
    weights: Path | None = typer.Option(None, "--weights", help="default: the configured file"),
    report_dir: Path | None = _REPORT_DIR_OPTION,
    dry_run: bool = typer.Option(False, "--dry-run", help="report only, leave config alone"),
    force: bool = _FORCE_OPTION,
    prealigned: bool = PREALIGNED_OPTION,
    gate: bool = GATE_OPTION,
    allow_untrained: bool = UNTRAINED_OPTION,
) -> None:
    """Choose recognition.threshold and .margin for a target FAR and write them to the config."""
    from lockers.config import find_config_file
    from lockers.training.calibrate import CalibrateJob, calibrate
    from lockers.training.config_edit import update_config_file

    cli = state(ctx)
    settings = cli.settings()
    config_path = find_config_file(cli.config_path) or Path("config.yaml")
    job = CalibrateJob(
        data_root=data,
        report_dir=report_dir or config_path.resolve().parent / "calibration",
        target_far=target_far,
        weights=weights,
        source="prealigned" if prealigned else "detect",
        gate=gate,
        allow_untrained=allow_untrained,
        force=force,
    )
    console = Console()
    with progress_bar(console, "faces") as progress:
        result = calibrate(job, settings, progress)
    _print_calibration(console, result)
    if dry_run or not result.writable:
        console.print("config not changed" + ("" if dry_run else " (untrained weights)"))
        return
    kept = update_config_file(
        config_path, "recognition", {"threshold": result.threshold, "margin": result.margin}
    )
    note = "" if kept else " (comments could not be kept: the file was rewritten)"
    console.print(f"wrote recognition.threshold and recognition.margin to {config_path}{note}")


def _print_calibration(console: Console, result: Calibration) -> None:
    r = result.report
    if not result.writable:
        untrained_banner(console)
    console.print(
        f"{r['people']} people, {r['faces_used']} faces, {r['genuine_pairs']} genuine / "
        f"{r['impostor_pairs']} impostor pairs ({r['support_note']})"
    )
    console.print(
        f"threshold {result.threshold:.3f} (was {r['previous']['threshold']}): "
        f"FAR {r['far_at_threshold']:.2e}, TAR {r['tar_at_threshold']:.3f}"
    )
    ident = r["identification_at_choice"]
    console.print(
        f"margin {result.margin:.2f} (was {r['previous']['margin']}): 1:N correct "
        f"{ident['correct_accept_rate']:.3f}, wrong accepts {ident['wrong_accept_rate']:.2e}"
    )
    if not r["supported"]:
        console.print(f"[bold yellow]unsupported by the data:[/] {r['support_note']}")
    if not r["margin_meets_target"]:
        console.print("[bold yellow]no margin up to 0.30 meets the target in 1:N simulation[/]")
    console.print(f"evidence: {result.report_path}")
