"""Measuring the passive anti-spoofing check: APCER and BPCER per source, score histograms.

ISO/IEC 30107-3 terms: APCER = attack presentations accepted as bona fide / attack
presentations (per attack type); BPCER = bona fide presentations refused / bona fide
presentations. Two levels are reported from the same scores:

- **per frame**: each image or video frame scored alone (the harder test);
- **per presentation**, as the kiosk decides: the kiosk fuses the mean score over the frames of
  one capture (retrieve: its k-of-n window of frames that passed the quality gate). A video (or
  an attack made from a video's frames, one sequence per attack variant) is cut into windows of
  ``window`` consecutive scored frames; a still photo is one presentation of one frame; an
  attack made from a still photo is one presentation whose frames are its variants.

A presentation in which the detector finds no face never reaches the check (the kiosk would not
go on either); those are counted and reported, never silently dropped. With the quality gate
(on by default in ``lockers evaluate-pad``) only frames the kiosk would enrol or match are
scored, as in the kiosk: a frame with a small, blurred, dark or turned face is counted as
``gated`` (a second face only when asked: see :func:`score_source`). Frames with
more than one person are otherwise scored on their subject (the largest and most central face)
and counted as ``crowded``.

The pieces: :mod:`~lockers.training.pad_sources` scores the files;
:mod:`~lockers.training.pad_scores` holds one source's scores and groups them into
presentations; :mod:`~lockers.training.pad_decision` is the per-presentation decision rule; this
module turns the sources into the report's figures.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from lockers.training.pad_scores import BINS, SourceScores


@dataclass(frozen=True)
class PadReport:
    """Figures at one threshold, and the threshold that meets a BPCER target."""

    threshold: float
    sources: tuple[SourceScores, ...]
    target_bpcer: float
    threshold_at_target: float | None

    @property
    def real(self) -> list[SourceScores]:
        return [s for s in self.sources if s.bona_fide]

    @property
    def attacks(self) -> list[SourceScores]:
        return [s for s in self.sources if not s.bona_fide]

    def bpcer(self, threshold: float | None = None) -> float:
        return _pooled(self.real, self.threshold if threshold is None else threshold)

    def apcer(self, threshold: float | None = None) -> float:
        """The worst attack type's APCER (ISO/IEC 30107-3 reports the maximum)."""
        t = self.threshold if threshold is None else threshold
        rates = [s.rate(t) for s in self.attacks if s.scores]
        return max(rates) if rates else float("nan")

    def to_json(self) -> dict[str, object]:
        at_target = self.threshold_at_target

        def source(s: SourceScores) -> dict[str, object]:
            return {
                "name": s.name,
                "bona_fide": s.bona_fide,
                "presentations": len(s.scores),
                "no_face": s.no_face,
                "crowded": s.crowded,
                "gated": s.gated,
                ("bpcer" if s.bona_fide else "apcer"): _number(s.rate(self.threshold)),
                "errors": s.errors(self.threshold),
                "histogram": s.histogram(),
                "mean_score": float(np.mean(s.scores)) if s.scores else None,
                "rate_at_target": None if at_target is None else _number(s.rate(at_target)),
                "frames_per_presentation": (
                    round(float(np.mean(s.frame_counts)), 2) if s.frame_counts else 1.0
                ),
                "by_origin": {
                    part.name: {
                        "presentations": len(part.scores),
                        "errors": part.errors(self.threshold),
                        "rate": _number(part.rate(self.threshold)),
                        "rate_at_target": None
                        if at_target is None
                        else _number(part.rate(at_target)),
                    }
                    for part in s.by_origin()
                },
                # Which image or frame scored what: to look at the ones that fail.
                "frames": [
                    {
                        "name": f.name,
                        "status": f.status,
                        "score": None if f.score is None else round(f.score, 4),
                    }
                    for f in s.frames
                ],
            }

        return {
            "threshold": self.threshold,
            "bpcer": _number(self.bpcer()),
            "apcer_max": _number(self.apcer()),
            "target_bpcer": self.target_bpcer,
            "threshold_at_target": at_target,
            "apcer_at_target": None if at_target is None else _number(self.apcer(at_target)),
            "bpcer_at_target": None if at_target is None else _number(self.bpcer(at_target)),
            "histogram_bins": [round(i / BINS, 2) for i in range(BINS + 1)],
            "sources": [source(s) for s in self.sources],
        }


def _number(value: float) -> float | None:
    """``value`` for JSON: a rate over nothing (NaN) is ``null``, which JSON can hold."""
    return None if np.isnan(value) else value


def _pooled(sources: Iterable[SourceScores], threshold: float) -> float:
    n = sum(len(s.scores) for s in sources)
    return sum(s.errors(threshold) for s in sources) / n if n else float("nan")


def threshold_for_bpcer(real: Sequence[SourceScores], target: float) -> float | None:
    """The highest threshold whose pooled BPCER is at most ``target`` (a higher threshold
    refuses more attacks); None without real scores."""
    values = np.sort(np.concatenate([np.asarray(s.scores) for s in real if s.scores] or [[]]))
    if values.size == 0:
        return None
    allowed = int(np.floor(target * values.size + 1e-9))  # real faces we may refuse
    # Refusing exactly the `allowed` lowest scores: the threshold is the next score.
    return float(values[min(allowed, values.size - 1)])


def build_report(
    sources: Sequence[SourceScores], threshold: float, target_bpcer: float = 0.05
) -> PadReport:
    real = [s for s in sources if s.bona_fide]
    return PadReport(
        threshold, tuple(sources), target_bpcer, threshold_for_bpcer(real, target_bpcer)
    )


@dataclass(frozen=True)
class HeldOutCheck:
    """A threshold chosen on one half of the real material, figures on the other half.

    Each real source is split in two halves that share no person folder or video window
    (:meth:`SourceScores.split`); the threshold meeting the BPCER target is chosen on the first
    halves only, and BPCER is measured on the second halves. Attacks never choose the threshold,
    so every attack is measured at it.
    """

    threshold: float | None
    target_bpcer: float
    calibration: tuple[SourceScores, ...]
    test: tuple[SourceScores, ...]
    attacks: tuple[SourceScores, ...]

    def bpcer(self) -> float:
        return float("nan") if self.threshold is None else _pooled(self.test, self.threshold)

    def apcer(self) -> dict[str, float]:
        if self.threshold is None:
            return {}
        return {s.name: s.rate(self.threshold) for s in self.attacks if s.scores}

    def to_json(self) -> dict[str, object]:
        return {
            "threshold": self.threshold,
            "target_bpcer": self.target_bpcer,
            "calibration_presentations": sum(len(s.scores) for s in self.calibration),
            "test_presentations": sum(len(s.scores) for s in self.test),
            "bpcer_test": _number(self.bpcer()),
            "bpcer_test_per_source": {
                s.name: None if self.threshold is None else _number(s.rate(self.threshold))
                for s in self.test
            },
            "apcer": self.apcer(),
        }


def held_out_check(report: PadReport) -> HeldOutCheck:
    """:class:`HeldOutCheck` of ``report``'s sources at its BPCER target."""
    halves = [s.split() for s in report.real]
    calibration = tuple(a for a, _ in halves)
    test = tuple(b for _, b in halves)
    threshold = threshold_for_bpcer(calibration, report.target_bpcer)
    return HeldOutCheck(threshold, report.target_bpcer, calibration, test, tuple(report.attacks))


def plot_histograms(report: PadReport, path: Path) -> Path:
    """Score histograms of every source with the threshold; returns ``path``."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7.5, 4.5))
    ax = fig.add_subplot()
    bins: npt.NDArray[np.float64] = np.linspace(0, 1, 41)
    for s in report.sources:
        if not s.scores:
            continue
        kind = "real" if s.bona_fide else "attack"
        ax.hist(s.scores, bins=bins, alpha=0.45, label=f"{s.name} ({kind}, n={len(s.scores)})")
    ax.axvline(
        report.threshold, color="black", linestyle="--", label=f"threshold {report.threshold:.2f}"
    )
    ax.set_xlabel('fused "real" score (mean of both models)')
    per = "frames" if all(s.level == "frame" for s in report.sources) else "presentations"
    ax.set_ylabel(per)
    ax.set_title(
        f"passive PAD per {per[:-1]}: BPCER {report.bpcer():.1%}, worst APCER {report.apcer():.1%}"
    )
    ax.legend(fontsize="small")
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    FigureCanvasAgg(fig)
    fig.savefig(path, dpi=110)
    return path
