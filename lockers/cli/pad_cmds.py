"""``lockers evaluate-pad`` and ``lockers pad-attacks``: measuring the passive anti-spoofing
check (APCER / BPCER) on real faces and on simulated print and screen attacks."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import typer
from rich.console import Console
from rich.table import Table

from lockers.cli._common import state
from lockers.errors import LockersError

if TYPE_CHECKING:  # the training code (and its models) load only when a command runs
    from lockers.config import QualityConfig, Settings
    from lockers.training.pad_eval import HeldOutCheck, PadReport
    from lockers.training.pad_scores import SourceScores


def register(app: typer.Typer) -> None:
    app.command("evaluate-pad")(evaluate_pad_cmd)
    app.command("pad-attacks")(pad_attacks_cmd)


def _check_sources(paths: list[Path], option: str) -> None:
    from lockers.training.pad_sources import PadEvaluationError

    for path in paths:
        if not path.exists():
            raise PadEvaluationError(
                f"{option} {path} does not exist",
                hint="give a folder of images, an image, or a video file",
            )


REAL_OPTION = typer.Option(
    ..., "--real", help="bona fide faces: a folder of images or a video (repeatable)"
)
ATTACK_OPTION = typer.Option(
    ..., "--attack", help="attack presentations: a folder or a video, one per attack type"
)
THRESHOLD_OPTION = typer.Option(
    None, "--threshold", min=0.0, max=1.0, help="default liveness.threshold"
)
TARGET_BPCER_OPTION = typer.Option(
    0.05, "--target-bpcer", min=0.0, max=1.0, help="report the threshold meeting this BPCER"
)
VIDEO_EVERY_OPTION = typer.Option(5, "--video-every", min=1, help="score every n-th frame")
OUT_OPTION = typer.Option(Path("pad-report"), "--out", help="folder for report.json and PNG")
JSON_OPTION = typer.Option(False, "--json", help="print the JSON report")
QUALITY_GATE_OPTION = typer.Option(
    True,
    "--quality-gate/--no-quality-gate",
    help="score only frames that pass the kiosk's quality gate (config: quality), as the "
    "kiosk does; --no-quality-gate scores every frame with a face",
)
CROWD_GATE_OPTION = typer.Option(
    False,
    "--crowd-gate",
    help="with the gate, also refuse frames with a second face, as the kiosk does (off: "
    "the models see only the subject's crop; the shared video is a busy hallway)",
)
WINDOW_OPTION = typer.Option(
    None,
    "--window",
    min=1,
    help="frames fused per video presentation (default recognition.frames_window, the "
    "retrieve k-of-n window)",
)


@dataclass(frozen=True)
class _Evaluation:
    """What one ``evaluate-pad`` run measured, per frame and per presentation."""

    report: PadReport
    held_out: HeldOutCheck
    per_presentation: PadReport
    held_out_presentations: HeldOutCheck


def evaluate_pad_cmd(
    ctx: typer.Context,
    real: list[Path] = REAL_OPTION,
    attack: list[Path] = ATTACK_OPTION,
    threshold: float | None = THRESHOLD_OPTION,
    target_bpcer: float = TARGET_BPCER_OPTION,
    video_every: int = VIDEO_EVERY_OPTION,
    out: Path = OUT_OPTION,
    as_json: bool = JSON_OPTION,
    quality_gate: bool = QUALITY_GATE_OPTION,
    crowd_gate: bool = CROWD_GATE_OPTION,
    window: int | None = WINDOW_OPTION,
) -> None:
    """APCER (attacks accepted / attacks) per attack source and BPCER (real faces refused /
    real faces) per real source, with score histograms (text and PNG), per frame and per
    presentation.

    Per frame: each image or video frame scored alone. Per presentation, as the kiosk decides:
    the mean score over a window of consecutive frames of a video (or of an attack made from a
    video's frames), the variants of an attack made from one still photo, or one real photo.
    The threshold meeting --target-bpcer is also chosen on one half of the real material and
    reported on the other half.
    """
    from lockers.training.pad_eval import plot_histograms

    _check_sources(real, "--real")
    _check_sources(attack, "--attack")
    settings = state(ctx).settings()
    window = window or settings.recognition.frames_window
    console = Console(stderr=as_json)
    scorer = _PadScorer(settings, video_every, settings.quality if quality_gate else None)
    sources = scorer.score_all(console, real, attack, crowd_gate)
    if not any(s.scores for s in sources):
        raise _nothing_scored(settings.quality.min_face_px, quality_gate)
    measured = _measure(sources, threshold or settings.liveness.threshold, target_bpcer, window)
    out.mkdir(parents=True, exist_ok=True)
    run = {
        "models": scorer.model_version,
        "quality_gate": quality_gate,
        "crowd_gate": quality_gate and crowd_gate,
        "video_every": video_every,
    }
    document = _document(measured, run, window)
    (out / "report.json").write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    pngs = (
        plot_histograms(measured.report, out / "pad-scores.png"),
        plot_histograms(measured.per_presentation, out / "pad-presentations.png"),
    )
    if as_json:
        typer.echo(json.dumps(document, indent=2))
        return
    _print_evaluation(console, measured, window, quality_gate)
    console.print(
        f"report: {out / 'report.json'}, histograms: {pngs[0]}, {pngs[1]}", soft_wrap=True
    )
    console.print(
        "[dim]simulated attacks are a regression check, not an ISO/IEC 30107-3 lab test[/]"
    )


class _PadScorer:
    """The face detector and the anti-spoofing models, set up as ``evaluate-pad`` uses them."""

    def __init__(
        self,
        settings: Settings,
        video_every: int,
        gate: QualityConfig | None,
    ) -> None:
        from lockers.config import DetectionConfig
        from lockers.vision.antispoof import load_anti_spoof
        from lockers.vision.detector import FaceDetector

        liveness = settings.liveness
        self.pad = load_anti_spoof(liveness)
        self.model_version = self.pad.model_version
        # Photos and video frames have smaller faces than a kiosk camera sees (the gate, when
        # on, still applies the kiosk's quality.min_face_px).
        detection = DetectionConfig.model_validate(
            settings.detection.model_dump() | {"min_face_px": 20}
        )
        self.detector = FaceDetector(
            detection, threads=liveness.threads, cache_dir=liveness.anti_spoof_dir
        )
        self.video_every, self.gate = video_every, gate

    def score_all(
        self, console: Console, real: list[Path], attack: list[Path], gate_crowd: bool
    ) -> list[SourceScores]:
        """Every real source, then every attack source, in the order given."""
        from lockers.training.pad_sources import score_source

        sources = []
        for path, bona_fide in [*((p, True) for p in real), *((p, False) for p in attack)]:
            console.print(f"scoring {'real' if bona_fide else 'attack'} {path} …")
            sources.append(
                score_source(
                    path,
                    bona_fide=bona_fide,
                    detector=self.detector,
                    pad=self.pad,
                    video_every=self.video_every,
                    gate=self.gate,
                    gate_crowd=gate_crowd,
                )
            )
        return sources


def _nothing_scored(min_face_px: int, quality_gate: bool) -> LockersError:
    from lockers.training.pad_sources import PadEvaluationError

    return PadEvaluationError(
        "no face was found in any of the given images or frames"
        + (" that passed the quality gate" if quality_gate else ""),
        hint="check the paths; faces need to be at least 20 px wide"
        + (
            f" ({min_face_px} px with the gate; --no-quality-gate scores every face)"
            if quality_gate
            else ""
        ),
    )


def _measure(
    sources: list[SourceScores], threshold: float, target_bpcer: float, window: int
) -> _Evaluation:
    from lockers.training.pad_eval import build_report, held_out_check

    report = build_report(sources, threshold, target_bpcer)
    per_presentation = build_report(
        [s.presentations(window) for s in sources], threshold, target_bpcer
    )
    return _Evaluation(
        report, held_out_check(report), per_presentation, held_out_check(per_presentation)
    )


def _document(measured: _Evaluation, run: dict[str, object], window: int) -> dict[str, object]:
    """``report.json``: the per-frame report, how it was made (``run``), and the
    per-presentation report inside."""
    return (
        measured.report.to_json()
        | run
        | {
            "held_out": measured.held_out.to_json(),
            "per_presentation": measured.per_presentation.to_json()
            | {"window": window, "held_out": measured.held_out_presentations.to_json()},
        }
    )


def _print_evaluation(
    console: Console, measured: _Evaluation, window: int, quality_gate: bool
) -> None:
    gate_note = "quality gate on" if quality_gate else "no quality gate"
    _print_report(console, measured.report, measured.held_out, f"per frame, {gate_note}")
    _print_report(
        console,
        measured.per_presentation,
        measured.held_out_presentations,
        f"per presentation (video windows of {window} frames), {gate_note}",
    )


def _print_report(console: Console, report: PadReport, held_out: HeldOutCheck, level: str) -> None:
    from lockers.training.pad_scores import BINS

    console.print(_sources_table(report, level))
    console.print(f"histogram bins: {BINS} of width {1 / BINS:.1f} from 0 (attack) to 1 (real)")
    console.print(f"BPCER (all real) {report.bpcer():.1%}; worst APCER {report.apcer():.1%}")
    at = report.threshold_at_target
    if at is not None:
        console.print(
            f"at BPCER ≤ {report.target_bpcer:.0%} (threshold chosen on all the real material): "
            f"threshold {at:.3f}, BPCER {report.bpcer(at):.1%}, worst APCER "
            f"{report.apcer(at):.1%}"
        )
    if held_out.threshold is not None:
        apcer = ", ".join(f"{name} {rate:.1%}" for name, rate in held_out.apcer().items())
        n_cal = sum(len(s.scores) for s in held_out.calibration)
        n_test = sum(len(s.scores) for s in held_out.test)
        console.print(
            f"held out: threshold {held_out.threshold:.3f} chosen on the first half of the real "
            f"material ({n_cal}); on the second half ({n_test}) BPCER {held_out.bpcer():.1%}; "
            f"APCER {apcer}"
        )


def _sources_table(report: PadReport, level: str) -> Table:
    """One row per source (and per origin of a mixed attack folder) at the report's threshold
    and at the threshold meeting the BPCER target."""
    t = report.threshold
    at = report.threshold_at_target
    table = Table(title=f'passive PAD {level}: threshold {t:.3f} (fused "real" score)')
    columns = ["source", "kind", "n", "frames/n", "no face", "gated", "errors", "rate"]
    columns += [f"rate at {at:.3f}" if at is not None else "rate at target", "histogram 0 … 1"]
    for column in columns:
        table.add_column(column, overflow="fold")
    for s in report.sources:
        kind = "real" if s.bona_fide else "attack"
        what = "BPCER" if s.bona_fide else "APCER"
        rate = f"{what} {s.rate(t):.1%}" if s.scores else "-"
        rate_at = f"{s.rate(at):.1%}" if s.scores and at is not None else "-"
        per = f"{np.mean(s.frame_counts):.1f}" if s.frame_counts else "1"
        table.add_row(
            s.name,
            kind,
            str(len(s.scores)),
            per,
            str(s.no_face),
            str(s.gated),
            str(s.errors(t)),
            rate,
            rate_at,
            " ".join(f"{c:>3d}" for c in s.histogram()),
        )
        parts = s.by_origin()
        for part in parts if len(parts) > 1 else []:
            table.add_row(
                f"  {part.name}",
                kind,
                str(len(part.scores)),
                "",
                "",
                "",
                str(part.errors(t)),
                f"{what} {part.rate(t):.1%}",
                f"{part.rate(at):.1%}" if at is not None else "-",
                " ".join(f"{c:>3d}" for c in part.histogram()),
            )
    return table


def pad_attacks_cmd(
    out: Path = typer.Argument(..., help="folder for print/, screen/ and attacks.csv"),
    source: list[Path] = typer.Option(
        ..., "--source", help="real face images or videos to attack with (repeatable)"
    ),
    variants: int = typer.Option(3, "--variants", min=1, help="attacks per image and kind"),
    seed: int = typer.Option(0, "--seed", help="random seed (the same seed remakes the set)"),
    video_every: int = typer.Option(5, "--video-every", min=1, help="use every n-th frame"),
) -> None:
    """Make simulated print and screen-replay attacks from real face images and videos."""
    from lockers.config import DetectionConfig
    from lockers.training.pad_attacks import generate
    from lockers.vision.detector import FaceDetector

    _check_sources(source, "--source")
    detector = FaceDetector(DetectionConfig(min_face_px=20))

    def find_face(image: object) -> tuple[float, float, float, float] | None:
        subject = detector.detect(image).subject  # type: ignore[arg-type]
        return None if subject is None else subject.box

    records = generate(
        source, out, find_face=find_face, variants=variants, seed=seed, video_every=video_every
    )
    counts = {kind: sum(r.kind == kind for r in records) for kind in ("print", "screen")}
    Console().print(
        f"{len(records)} attacks in {out} ({counts['print']} print, {counts['screen']} screen); "
        f"parameters in {out / 'attacks.csv'}",
        soft_wrap=True,
    )
