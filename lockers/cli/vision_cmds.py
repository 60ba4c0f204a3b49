"""Face pipeline commands: ``detect``, ``embed``, ``compare``, ``bench``."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console
from rich.table import Table

from lockers.cli._common import state
from lockers.errors import LockersError

if TYPE_CHECKING:
    from lockers.vision.pipeline import Analysis, FacePipeline

_UNTRAINED = typer.Option(
    False,
    "--dev-allow-untrained",
    help="DEVELOPMENT ONLY: use random weights when none are installed (scores mean nothing).",
)


def register(app: typer.Typer) -> None:
    """Add the pipeline commands to the root app."""
    app.command("detect")(detect)
    app.command("embed")(embed)
    app.command("compare")(compare)
    from lockers.cli.bench_cmd import bench

    app.command("bench")(bench)


def _warn_untrained(pipeline: FacePipeline) -> None:
    from lockers.vision.embedder import UNTRAINED_VERSION

    if pipeline.embedder is not None and pipeline.embedder.model_version == UNTRAINED_VERSION:
        Console(stderr=True).print(
            "[bold red]UNTRAINED MODEL[/]: random weights, scores and decisions mean nothing."
        )


def _face_json(analysis: Analysis, image: Any, pipeline: FacePipeline) -> list[dict[str, Any]]:
    from lockers.vision.quality import assess

    faces = []
    for i, face in enumerate(analysis.detections.faces):
        quality = (
            analysis.quality
            if i == 0
            else assess(image, face, pipeline.quality, multiple_faces=False)
        )
        faces.append({**face.to_json(), "quality": quality.to_json()})
    return faces


def detect(
    ctx: typer.Context,
    images: list[Path] = typer.Argument(..., help="image files (JPEG, PNG, BMP, WebP)"),
    as_json: bool = typer.Option(False, "--json", help="one JSON object per image"),
) -> None:
    """Detect faces: boxes, probabilities, 5 landmarks, quality, and the crowd flag."""
    from lockers.app import build_pipeline
    from lockers.vision.image_io import load_image

    pipeline = build_pipeline(state(ctx).settings(), embed=False)
    results: list[dict[str, Any]] = []
    failed = 0
    for path in images:
        try:
            image = load_image(path)
        except LockersError as exc:
            if len(images) == 1:
                raise
            failed += 1
            results.append({"image": str(path), "error": exc.message})
            continue
        analysis = pipeline.analyse(image, embed=False)
        results.append(
            {
                "image": str(path),
                "faces": _face_json(analysis, image, pipeline),
                "multiple_faces": analysis.multiple_faces,
            }
        )
    if as_json:
        typer.echo(json.dumps(results[0] if len(results) == 1 else results, indent=2))
    else:
        _print_detections(results)
    if failed:
        raise typer.Exit(1)


def _print_detections(results: list[dict[str, Any]]) -> None:
    console = Console()
    for result in results:
        if "error" in result:
            console.print(f"[red]{result['image']}: {result['error']}[/]")
            continue
        crowd = "  [yellow]more than one person[/]" if result["multiple_faces"] else ""
        console.print(f"[bold]{result['image']}[/]: {len(result['faces'])} face(s){crowd}")
        table = Table("box (x1,y1,x2,y2)", "prob", "quality", "issues")
        for face in result["faces"]:
            quality = face["quality"]
            table.add_row(
                ", ".join(f"{v:.0f}" for v in face["box"]),
                f"{face['prob']:.3f}",
                "ok" if quality["ok"] else "refused",
                ", ".join(quality["issues"]),
            )
        if result["faces"]:
            console.print(table)


def _embed_one(pipeline: FacePipeline, path: Path) -> tuple[Any, Analysis]:
    from lockers.vision.image_io import load_image
    from lockers.vision.quality import QualityIssue

    analysis = pipeline.analyse(load_image(path))
    if analysis.embedding is None:
        issues = ", ".join(analysis.quality.reasons)
        hint = "use a photo with one clear, frontal, well-lit face"
        if QualityIssue.MULTIPLE_FACES in analysis.quality.issues:
            hint = "crop the photo to one person"
        raise LockersError(f"{path}: no usable face ({issues})", hint=hint)
    return analysis.embedding, analysis


def embed(
    ctx: typer.Context,
    images: list[Path] = typer.Argument(..., help="image files with one face each"),
    out: Path | None = typer.Option(None, "--out", help="write an (n, 512) float32 .npy file"),
    allow_untrained: bool = _UNTRAINED,
) -> None:
    """Print (or save) the 512-d embedding of the face in each image."""
    import numpy as np

    from lockers.app import build_pipeline

    pipeline = build_pipeline(state(ctx).settings(), allow_untrained=allow_untrained)
    _warn_untrained(pipeline)
    vectors = [_embed_one(pipeline, path)[0] for path in images]
    version = pipeline.embedder.model_version if pipeline.embedder else ""
    if out is not None:
        np.save(out, np.stack(vectors).astype(np.float32))
        typer.echo(f"wrote {len(vectors)} embedding(s) of model {version} to {out}")
        return
    payload = [
        {"image": str(p), "model_version": version, "embedding": [round(float(x), 6) for x in v]}
        for p, v in zip(images, vectors, strict=True)
    ]
    json.dump(payload[0] if len(payload) == 1 else payload, sys.stdout)
    sys.stdout.write("\n")


def compare(
    ctx: typer.Context,
    image_a: Path = typer.Argument(..., help="first photo"),
    image_b: Path = typer.Argument(..., help="second photo"),
    as_json: bool = typer.Option(False, "--json"),
    allow_untrained: bool = _UNTRAINED,
) -> None:
    """Cosine similarity of two faces and the kiosk's decision at its configured threshold."""
    import numpy as np

    from lockers.app import build_pipeline

    settings = state(ctx).settings()
    pipeline = build_pipeline(settings, allow_untrained=allow_untrained)
    _warn_untrained(pipeline)
    a, _ = _embed_one(pipeline, image_a)
    b, _ = _embed_one(pipeline, image_b)
    score = float(np.dot(a, b))
    threshold = settings.recognition.threshold
    same = score >= threshold
    if as_json:
        typer.echo(json.dumps({"score": round(score, 6), "threshold": threshold, "same": same}))
    else:
        verdict = "same person" if same else "different people"
        typer.echo(f"score {score:.4f} (threshold {threshold}): {verdict}")
