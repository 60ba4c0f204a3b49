"""Measuring the passive anti-spoofing check: APCER and BPCER per source, score histograms.

ISO/IEC 30107-3 terms: APCER = attack presentations accepted as bona fide / attack
presentations (per attack type); BPCER = bona fide presentations refused / bona fide
presentations. Each image (or video frame) is one presentation, scored alone: the kiosk fuses
several frames, so per-frame figures are the harder test. A presentation in which the detector
finds no face never reaches the check (the kiosk would not go on either); those are counted and
reported, never silently dropped. Frames with more than one person (the shared video is a busy
hallway) are scored on their subject, the largest and most central face, and counted. With a
quality gate, only presentations the kiosk would enrol or match are scored (the rest are
counted as ``gated``): the figure closest to what the kiosk decides on.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt

from lockers.config import QualityConfig
from lockers.errors import LockersError
from lockers.training.pad_attacks import real_sources
from lockers.vision.antispoof import PresentationAttackDetector
from lockers.vision.detector import FaceDetector
from lockers.vision.quality import assess

BINS = 10


class PadEvaluationError(LockersError):
    """evaluate-pad or pad-attacks were given nothing usable."""


@dataclass
class SourceScores:
    """The fused "real" score of every presentation of one source (a folder or a video)."""

    name: str
    bona_fide: bool
    scores: list[float] = field(default_factory=list)
    no_face: int = 0
    crowded: int = 0
    gated: int = 0

    def errors(self, threshold: float) -> int:
        """Attacks accepted (score >= threshold) or real faces refused (score < threshold)."""
        values = np.asarray(self.scores)
        return int(
            (values >= threshold).sum() if not self.bona_fide else (values < threshold).sum()
        )

    def rate(self, threshold: float) -> float:
        return self.errors(threshold) / len(self.scores) if self.scores else float("nan")

    def histogram(self) -> list[int]:
        counts, _ = np.histogram(self.scores, bins=BINS, range=(0.0, 1.0))
        return [int(c) for c in counts]


def score_source(
    path: Path,
    *,
    bona_fide: bool,
    detector: FaceDetector,
    pad: PresentationAttackDetector,
    video_every: int = 5,
    gate: QualityConfig | None = None,
) -> SourceScores:
    """Detect the subject of every image / video frame under ``path`` and score it (only those
    that pass ``gate``, when given; a second face does not count against the gate here)."""
    result = SourceScores(path.name or str(path), bona_fide)
    for _name, image in real_sources(path, video_every=video_every):
        detections = detector.detect(image)
        subject = detections.subject
        if subject is None:
            result.no_face += 1
            continue
        result.crowded += int(detections.multiple_faces)
        if gate is not None and not assess(image, subject, gate).ok:
            result.gated += 1
            continue
        result.scores.append(pad.score(image, subject.box).real)
    return result


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
        def source(s: SourceScores) -> dict[str, object]:
            return {
                "name": s.name,
                "bona_fide": s.bona_fide,
                "presentations": len(s.scores),
                "no_face": s.no_face,
                "crowded": s.crowded,
                "gated": s.gated,
                ("bpcer" if s.bona_fide else "apcer"): s.rate(self.threshold),
                "errors": s.errors(self.threshold),
                "histogram": s.histogram(),
                "mean_score": float(np.mean(s.scores)) if s.scores else None,
            }

        at_target = self.threshold_at_target
        return {
            "threshold": self.threshold,
            "bpcer": self.bpcer(),
            "apcer_max": self.apcer(),
            "target_bpcer": self.target_bpcer,
            "threshold_at_target": at_target,
            "apcer_at_target": None if at_target is None else self.apcer(at_target),
            "bpcer_at_target": None if at_target is None else self.bpcer(at_target),
            "histogram_bins": [round(i / BINS, 2) for i in range(BINS + 1)],
            "sources": [source(s) for s in self.sources],
        }


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
    ax.set_ylabel("presentations")
    ax.set_title(f"passive PAD: BPCER {report.bpcer():.1%}, worst APCER {report.apcer():.1%}")
    ax.legend(fontsize="small")
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    FigureCanvasAgg(fig)
    fig.savefig(path, dpi=110)
    return path
