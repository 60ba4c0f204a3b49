"""``lockers evaluate-pad`` and ``lockers pad-attacks``: measuring the passive anti-spoofing
check (APCER / BPCER) on real faces and on simulated print and screen attacks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console

from lockers.cli._common import state
from lockers.cli.pad_print import PadEvaluation
from lockers.errors import LockersError

if TYPE_CHECKING:  # the training code (and its models) load only when a command runs
    from lockers.config import QualityConfig, Settings
    from lockers.training.pad_decision import TieredRule
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
CONFIDENT_OPTION = typer.Option(
    None,
    "--confident",
    min=0.0,
    max=1.0,
    help="default liveness.confident: at or above it an existing rental opens without a "
    "challenge (never below the threshold)",
)
TARGET_BPCER_OPTION = typer.Option(
    0.05, "--target-bpcer", min=0.0, max=1.0, help="propose the threshold meeting this BPCER"
)
TARGET_APCER_OPTION = typer.Option(
    0.0,
    "--target-apcer",
    min=0.0,
    max=1.0,
    help="propose the confident score at which at most this share of each attack type "
    "opens without a challenge (0: above the highest attack score)",
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


def evaluate_pad_cmd(
    ctx: typer.Context,
    real: list[Path] = REAL_OPTION,
    attack: list[Path] = ATTACK_OPTION,
    threshold: float | None = THRESHOLD_OPTION,
    confident: float | None = CONFIDENT_OPTION,
    target_bpcer: float = TARGET_BPCER_OPTION,
    target_apcer: float = TARGET_APCER_OPTION,
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
    reported on the other half. Per presentation, under the kiosk's tiered rule for a door of
    an existing rental: attacks opened without a challenge, attacks challenged, real faces
    refused (BPCER) and challenged (challenge rate); with the threshold proposed for
    --target-bpcer and the confident score proposed for --target-apcer.
    """
    from lockers.cli.pad_print import print_evaluation

    _check_sources(real, "--real")
    _check_sources(attack, "--attack")
    settings = state(ctx).settings()
    rule = _tiered_rule(settings, threshold, confident)
    window = window or settings.recognition.frames_window
    console = Console(stderr=as_json)
    scorer = _PadScorer(settings, video_every, settings.quality if quality_gate else None)
    sources = scorer.score_all(console, real, attack, crowd_gate)
    if not any(s.scores for s in sources):
        raise _nothing_scored(settings.quality.min_face_px, quality_gate)
    measured = _measure(sources, rule, (target_apcer, target_bpcer), window)
    out.mkdir(parents=True, exist_ok=True)
    run = {
        "models": scorer.model_version,
        "quality_gate": quality_gate,
        "crowd_gate": quality_gate and crowd_gate,
        "video_every": video_every,
    }
    document = _document(measured, run, window)
    pngs = _write_report(out, document, measured)
    if as_json:
        typer.echo(json.dumps(document, indent=2))
        return
    print_evaluation(console, measured, window, quality_gate)
    console.print(
        f"report: {out / 'report.json'}, histograms: {pngs[0]}, {pngs[1]}", soft_wrap=True
    )
    console.print(
        "[dim]simulated attacks are a regression check, not an ISO/IEC 30107-3 lab test[/]"
    )


def _write_report(
    out: Path, document: dict[str, object], measured: PadEvaluation
) -> tuple[Path, Path]:
    """``report.json`` and the two histograms in ``out``; returns the histograms' paths."""
    from lockers.training.pad_eval import plot_histograms

    (out / "report.json").write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    return (
        plot_histograms(measured.report, out / "pad-scores.png"),
        plot_histograms(measured.per_presentation, out / "pad-presentations.png"),
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


def _tiered_rule(
    settings: Settings, threshold: float | None, confident: float | None
) -> TieredRule:
    """The rule to measure: the options over the configuration. A --threshold above the
    configured ``confident`` lifts it (no challenge tier) unless --confident is given too."""
    from lockers.training.pad_decision import TieredRule
    from lockers.training.pad_sources import PadEvaluationError

    live = settings.liveness
    threshold = live.threshold if threshold is None else threshold
    if confident is None:
        return TieredRule(threshold, max(live.confident, threshold))
    if confident < threshold:
        raise PadEvaluationError(
            f"--confident {confident} is below the threshold {threshold}",
            hint="scores from the threshold up to confident are challenged: give a confident "
            "at least the threshold (equal: no challenge tier)",
        )
    return TieredRule(threshold, confident)


def _measure(
    sources: list[SourceScores],
    rule: TieredRule,
    targets: tuple[float, float],
    window: int,
) -> PadEvaluation:
    """``targets``: (APCER without a challenge, BPCER)."""
    from lockers.training.pad_eval import build_report, held_out_check
    from lockers.training.pad_tiers import build_tier_report

    target_apcer, target_bpcer = targets
    report = build_report(sources, rule.threshold, target_bpcer)
    presentations = [s.presentations(window) for s in sources]
    per_presentation = build_report(presentations, rule.threshold, target_bpcer)
    return PadEvaluation(
        report,
        held_out_check(report),
        per_presentation,
        held_out_check(per_presentation),
        build_tier_report(presentations, rule, target_apcer, target_bpcer),
    )


def _document(measured: PadEvaluation, run: dict[str, object], window: int) -> dict[str, object]:
    """``report.json``: the per-frame report, how it was made (``run``), and the
    per-presentation report inside."""
    return (
        measured.report.to_json()
        | run
        | {
            "held_out": measured.held_out.to_json(),
            "per_presentation": measured.per_presentation.to_json()
            | {
                "window": window,
                "held_out": measured.held_out_presentations.to_json(),
                "tiers": measured.tiers.to_json(),
            },
        }
    )


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
