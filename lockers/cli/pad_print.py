"""What ``lockers evaluate-pad`` prints: the APCER / BPCER tables per frame and per
presentation, and the kiosk's tiered rule with the proposed thresholds."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    from lockers.training.pad_decision import DecisionCounts
    from lockers.training.pad_eval import HeldOutCheck, PadReport
    from lockers.training.pad_tiers import TierFigures, TierReport


@dataclass(frozen=True)
class PadEvaluation:
    """What one ``evaluate-pad`` run measured, per frame and per presentation, and per
    presentation under the kiosk's tiered rule."""

    report: PadReport
    held_out: HeldOutCheck
    per_presentation: PadReport
    held_out_presentations: HeldOutCheck
    tiers: TierReport


def print_evaluation(
    console: Console, measured: PadEvaluation, window: int, quality_gate: bool
) -> None:
    gate_note = "quality gate on" if quality_gate else "no quality gate"
    _print_report(console, measured.report, measured.held_out, f"per frame, {gate_note}")
    _print_report(
        console,
        measured.per_presentation,
        measured.held_out_presentations,
        f"per presentation (video windows of {window} frames), {gate_note}",
    )
    print_tiers(console, measured.tiers)


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


def print_tiers(console: Console, tiers: TierReport) -> None:
    """The tiered rule at the configured thresholds and at the proposed ones."""
    console.print(_tiers_table(tiers.current, "per presentation, the kiosk's tiered rule"))
    console.print(_tier_summary(tiers.current))
    highest = tiers.highest_attack_score
    if highest is not None:
        console.print(f"highest attack score (per presentation): {highest:.3f}")
    proposed = tiers.proposed
    if proposed is None:
        console.print("no proposal: it needs real and attack presentations")
        return
    console.print(
        f"proposed for APCER without a challenge ≤ {tiers.target_apcer:.0%} and BPCER ≤ "
        f"{tiers.target_bpcer:.0%}: liveness.threshold {proposed.rule.threshold:.3f}, "
        f"liveness.confident {proposed.rule.confident:.3f}"
    )
    console.print(_tier_summary(proposed))


def _percent(rate: float) -> str:
    return "-" if np.isnan(rate) else f"{rate:.1%}"


def _tier_summary(figures: TierFigures) -> str:
    return (
        f"threshold {figures.rule.threshold:.3f} / confident {figures.rule.confident:.3f}: "
        f"real refused (BPCER) {_percent(figures.bpcer)}, real challenged "
        f"{_percent(figures.challenge_rate)}; worst attack type opened without a challenge "
        f"{_percent(figures.apcer_without_challenge())}, challenged "
        f"{_percent(figures.attacks_challenged())}"
    )


def _tiers_table(figures: TierFigures, level: str) -> Table:
    rule = figures.rule
    table = Table(title=f"{level}: threshold {rule.threshold:.3f}, confident {rule.confident:.3f}")
    for column in ("source", "kind", "n", "opened", "challenged", "refused"):
        table.add_column(column, overflow="fold")

    def cell(count: int, counts: DecisionCounts) -> str:
        return f"{count} ({count / counts.total:.1%})" if counts.total else "-"

    rows = [(name, "real", c) for name, c in figures.real_per_source.items()]
    rows += [(name, "attack", c) for name, c in figures.attacks.items()]
    for name, kind, c in rows:
        table.add_row(
            name,
            kind,
            str(c.total),
            cell(c.accepted, c),
            cell(c.challenged, c),
            cell(c.refused, c),
        )
    return table
