"""``lockers bench``: per-stage latency of the face pipeline versus the facenet-pytorch default;
``lockers bench --site``: a several-kiosk site's command and retrieve times instead."""

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
    skip_embedder_options: bool = typer.Option(
        False, "--skip-embedder-options", help="do not time ONNX Runtime session options"
    ),
    skip_flow: bool = typer.Option(
        False, "--skip-flow", help="do not replay the video through the register/retrieve flow"
    ),
    camera_fps: float = typer.Option(
        15.0, "--camera-fps", min=1.0, help="frame rate the flow replay assumes for the video"
    ),
    gallery: int = typer.Option(
        10_000, "--gallery", min=0, help="active rentals in the flow replay's SQLite store"
    ),
    flow_repeats: int = typer.Option(
        5, "--flow-repeats", min=1, help="register/retrieve replays (from different frames)"
    ),
    as_json: bool = typer.Option(False, "--json", help="print one JSON object"),
    site: bool = typer.Option(False, "--site", help="time a site of kiosks instead (below)"),
    database_url: str = typer.Option("", help="--site: a PostgreSQL server to time too"),
    kiosks: int = typer.Option(3, help="--site: kiosks, each with its bank and board"),
    rentals: int = typer.Option(10_000, help="--site: active rentals over all banks"),
    commands: int = typer.Option(50, help="--site: staff commands to other banks"),
    retrieves: int = typer.Option(10, help="--site: retrieves per case at kiosk 1"),
) -> None:
    """Time decode, detect, quality, align, embed, match (100 / 10k / 100k) and end to end.

    Runs on untrained weights when none are installed: the timings are the same. With
    --site: command -> lock and retrieve times of a site on SQLite and PostgreSQL.
    """
    if site:
        _bench_site(ctx, database_url, kiosks, rentals, commands, retrieves, as_json)
        return
    from lockers.vision.bench import SAMPLE_VIDEO, BenchOptions, run_bench

    options = BenchOptions(
        source=source or SAMPLE_VIDEO,
        frames=frames,
        skip_default=skip_default,
        embedder_options=not skip_embedder_options,
    )
    settings = state(ctx).settings()
    result = run_bench(settings, options)
    if not skip_flow:
        _add_flow(result, settings, options.source, camera_fps, gallery, flow_repeats)
    result["passive_pad"] = _bench_pad(settings, options.source)
    if as_json:
        typer.echo(json.dumps(result, indent=2))
        return
    _print(result)


def _add_flow(
    result: dict[str, Any], settings: Any, source: Path, fps: float, gallery: int, repeats: int
) -> None:
    """Replay ``source`` through the flow; its figures, and the headline ones at the top."""
    from lockers.kiosk.bench_flow import run_flow_bench

    flow = run_flow_bench(settings, source, fps, gallery_size=gallery, repeats=repeats)
    result["flow"] = flow
    result["face_to_unlock_p50_ms"] = flow["retrieve_face_to_unlock_ms"]["p50"]
    result["face_to_unlock_p95_ms"] = flow["retrieve_face_to_unlock_ms"]["p95"]
    result["face_to_register_unlock_p50_ms"] = flow["register_window_to_unlock_ms"]["p50"]
    result["face_to_register_unlock_p95_ms"] = flow["register_window_to_unlock_ms"]["p95"]
    result["register_capture_window_p50_ms"] = flow["register_capture_window_ms"]["p50"]
    # As a customer lives them (a simulated person, head moves included), per passive tier.
    result["register_total_ms"] = flow["register_total_ms"]
    result["retrieve_total_ms"] = flow["retrieve_total_ms"]


def _bench_site(
    ctx: typer.Context,
    database_url: str,
    kiosks: int,
    rentals: int,
    commands: int,
    retrieves: int,
    as_json: bool,
) -> None:
    from lockers.app.bench_site import SiteBenchOptions, run_site_bench
    from lockers.cli.bench_site_print import print_site

    options = SiteBenchOptions(
        kiosks=kiosks,
        rentals=rentals,
        commands=commands,
        retrieves=retrieves,
        postgres_url=database_url or None,
    )
    result = run_site_bench(state(ctx).settings(), options)
    if as_json:
        typer.echo(json.dumps(result, indent=2))
        return
    print_site(Console(), result)


def _ms(value: float | None) -> str:
    # A stage with no samples (e.g. embed on a video without a usable face) prints "-".
    return "-" if value is None else f"{value:.2f}"


def _figures(stats: dict[str, Any]) -> str:
    return f"p50 {_ms(stats['p50'])} / p95 {_ms(stats['p95'])} ms (n={stats['n']})"


def _print(result: dict[str, Any]) -> None:
    console = Console()
    console.print(
        f"[bold]{result['source']}[/] at 640x480: {result['frames']} frames, "
        f"{result['frames_with_usable_face']} with a usable face; backend {result['backend']}, "
        f"{result['threads']} threads ({result['weights_note']})"
    )
    refused = result.get("frames_refused") or {}
    if refused:
        console.print(
            "frames without an embedding, by reason: "
            + ", ".join(f"{reason} {count}" for reason, count in refused.items())
        )
    table = Table("stage (ms)", "ours p50", "ours p95", "default p50", "default p95")
    default = result.get("default", {})
    for stage, figures in result["ours"].items():
        theirs = default.get(stage, {})
        table.add_row(
            stage,
            _ms(figures.get("p50")),
            _ms(figures.get("p95")),
            _ms(theirs.get("p50")) if theirs else "",
            _ms(theirs.get("p95")) if theirs else "",
        )
    console.print(table)
    if result.get("speedup_vs_default") is not None:
        console.print(f"end to end: {result['speedup_vs_default']}x faster than the default")
    elif "speedup_note" in result:
        console.print(f"speed-up: {result['speedup_note']}")
    tracking = result.get("tracking")
    if tracking:
        full, tracked = tracking["full_detect"], tracking["tracked_detect"]
        console.print(
            f"detection: full {_ms(full['p50'])} ms ({full['n']} frames), "
            f"tracked {_ms(tracked['p50'])} ms ({tracked['n']} frames)"
        )
    for name, figures in (result.get("embedder_options") or {}).items():
        console.print(f"embedder {name}: {figures}")
    _print_flow(console, result.get("flow"))
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


def _print_flow(console: Console, flow: dict[str, Any] | None) -> None:
    """The flow replay's and the simulated person's figures."""
    if not flow:
        return
    console.print(
        f"face shown -> unlock command ({flow['store']}, camera {flow['fps']} fps): "
        f"retrieve {_figures(flow['retrieve_face_to_unlock_ms'])}; register "
        f"{_figures(flow['register_window_to_unlock_ms'])} after a capture window of "
        f"{_figures(flow['register_capture_window_ms'])} (liveness excluded)"
    )
    for tier in ("confident", "unsure"):
        console.print(
            f"as a customer lives it, {tier} passive score (simulated person): register "
            f"(tap -> unlock) {_figures(flow['register_total_ms'][tier])}; retrieve (face "
            f"-> unlock) {_figures(flow['retrieve_total_ms'][tier])}"
        )


def _bench_pad(settings: Any, source: Path) -> dict[str, Any]:
    """The PAD cost per frame (:mod:`lockers.vision.pad_bench`) on 30 frames of ``source``."""
    from lockers.vision.bench import read_frames
    from lockers.vision.pad_bench import bench_pad

    frames, _, _ = read_frames(source, 30)
    return bench_pad(settings, frames)
