"""``lockers bench``: per-stage latency of the face pipeline versus the facenet-pytorch default."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from lockers.cli._common import state


def bench(
    ctx: typer.Context,
    source: Path | None = typer.Option(
        None, "--source", help="video file or image folder (default: the shipped sample video)"
    ),
    frames: int = typer.Option(60, min=1, help="frames to time (after 5 warm-up frames)"),
    skip_default: bool = typer.Option(
        False, "--skip-default", help="do not time the plain facenet-pytorch pipeline"
    ),
    as_json: bool = typer.Option(False, "--json", help="print one JSON object"),
) -> None:
    """Time decode, detect, quality, align, embed, match (100 / 10k / 100k) and end to end.

    Runs on untrained weights when none are installed: the timings are the same.
    """
    from lockers.vision.bench import SAMPLE_VIDEO, BenchOptions, run_bench

    options = BenchOptions(source=source or SAMPLE_VIDEO, frames=frames, skip_default=skip_default)
    settings = state(ctx).settings()
    result = run_bench(settings, options)
    result["passive_pad"] = _bench_pad(settings, options.source)
    if as_json:
        typer.echo(json.dumps(result, indent=2))
        return
    _print(result)


def _print(result: dict[str, Any]) -> None:
    console = Console()
    console.print(
        f"[bold]{result['source']}[/] at 640x480: {result['frames']} frames, "
        f"{result['frames_with_usable_face']} with a usable face; backend {result['backend']}, "
        f"{result['threads']} threads ({result['weights_note']})"
    )
    table = Table("stage (ms)", "ours p50", "ours p95", "default p50", "default p95")
    default = result.get("default", {})
    for stage, figures in result["ours"].items():
        theirs = default.get(stage, {})
        table.add_row(
            stage,
            f"{figures['p50']:.2f}",
            f"{figures['p95']:.2f}",
            f"{theirs['p50']:.2f}" if theirs else "",
            f"{theirs['p95']:.2f}" if theirs else "",
        )
    console.print(table)
    if "speedup_vs_default" in result:
        console.print(f"end to end: {result['speedup_vs_default']}x faster than the default")
    startup = result["startup"]
    console.print(f"start-up (fresh process): {startup}")
    console.print(f"peak RSS of this benchmark process: {result['peak_rss_mb_bench_process']} MB")
    pad = result.get("passive_pad")
    if pad:
        console.print(
            f"passive anti-spoofing per frame (both models, {pad['threads']} thread(s)): "
            f"p50 {pad['pad_ms_p50']} ms, p95 {pad['pad_ms_p95']} ms over {pad['frames']} "
            f"frames ({pad['weights_note']})"
        )


def _bench_pad(settings: Any, source: Path) -> dict[str, Any]:
    """The PAD cost per frame (:mod:`lockers.vision.pad_bench`) on 30 frames of ``source``."""
    from lockers.vision.bench import _read_frames
    from lockers.vision.pad_bench import bench_pad

    frames, _ = _read_frames(source, 30)
    return bench_pad(settings, frames)
