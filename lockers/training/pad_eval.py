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
"""

from __future__ import annotations

import csv
import math
import re
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
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
_VARIANT = re.compile(r"^(?P<stem>.+)-(?P<variant>\d+)\.[A-Za-z]+$")
_VIDEO_FRAME = re.compile(r"^(?P<video>.+)-(?P<index>\d+)$")


class PadEvaluationError(LockersError):
    """evaluate-pad or pad-attacks were given nothing usable."""


@dataclass(frozen=True)
class FrameScore:
    """One image or video frame of a source and what became of it.

    ``sequence``: the frames that belong together (a video, one attack variant of a video, the
    variants of one still-photo attack, or a single photo); ``windowed``: a video sequence, cut
    into windows of consecutive frames; ``unit``: what the calibration split keeps together
    (a person's folder; for videos the window). ``score`` is None when the frame was not scored
    (``status`` "no_face" or "gated").
    """

    name: str
    sequence: str
    windowed: bool
    unit: str
    order: int
    score: float | None
    status: str = "scored"

    @property
    def origin(self) -> str:
        """Where the frame (or the picture an attack shows) came from: a video's name, or
        "photos" for still images."""
        if not self.windowed:
            return "photos"
        return self.sequence.split(" variant ", 1)[0]


@dataclass
class SourceScores:
    """The fused "real" score of every presentation of one source (a folder or a video).

    At the frame level (``level == "frame"``) each score is one frame; :meth:`presentations`
    gives the same source at the presentation level. ``units`` (parallel to ``scores`` when
    known) name what the calibration split keeps together.
    """

    name: str
    bona_fide: bool
    scores: list[float] = field(default_factory=list)
    no_face: int = 0
    crowded: int = 0
    gated: int = 0
    frames: list[FrameScore] = field(default_factory=list)
    units: list[str] = field(default_factory=list)
    level: str = "frame"
    frame_counts: list[int] = field(default_factory=list)
    origins: list[str] = field(default_factory=list)

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

    def presentations(self, window: int) -> SourceScores:
        """This source per presentation: the mean score over the scored frames of each.

        A video sequence's scored frames are cut, in order, into windows of ``window`` frames
        (as the kiosk's k-of-n window fills with frames that passed the gate; a shorter last
        window is kept: a presentation that ended early). Any other sequence is one
        presentation. A still sequence without a scored frame counts as ``gated`` (a face was
        found but gated) or ``no_face``; a video's unscored frames count as that many windows
        (rounded up).
        """
        if window < 1:
            raise ValueError("window must be at least 1")
        by_sequence: dict[str, list[FrameScore]] = {}
        for frame in self.frames:
            by_sequence.setdefault(frame.sequence, []).append(frame)
        out = SourceScores(self.name, self.bona_fide, level="presentation")
        for frames in by_sequence.values():
            frames = sorted(frames, key=lambda f: f.order)
            scored = [f for f in frames if f.score is not None]
            if not frames[0].windowed:
                if scored:
                    out._add([f.score for f in scored if f.score is not None], frames[0])
                elif any(f.status == "gated" for f in frames):
                    out.gated += 1
                else:
                    out.no_face += 1
                continue
            for start in range(0, len(scored), window):
                chunk = scored[start : start + window]
                out._add([f.score for f in chunk if f.score is not None], chunk[0])
            # The video's frames that never reached the check, in windows' worth.
            out.gated += math.ceil(sum(f.status == "gated" for f in frames) / window)
            out.no_face += math.ceil(sum(f.status == "no_face" for f in frames) / window)
        return out

    def _add(self, frame_scores: list[float], first: FrameScore) -> None:
        self.scores.append(float(np.mean(frame_scores)))
        self.units.append(first.unit)
        self.origins.append(first.origin)
        self.frame_counts.append(len(frame_scores))

    def by_origin(self) -> list[SourceScores]:
        """The scores split by where they came from (an attack folder holds attacks made from
        photos and from video frames), in order; one entry when there is one origin."""
        if len(self.origins) != len(self.scores):
            return [self]
        out: dict[str, SourceScores] = {}
        for score, origin in zip(self.scores, self.origins, strict=True):
            part = out.setdefault(
                origin, SourceScores(f"{self.name} from {origin}", self.bona_fide, level=self.level)
            )
            part.scores.append(score)
            part.origins.append(origin)
        return list(out.values())

    def split(self) -> tuple[SourceScores, SourceScores]:
        """Two halves that share no unit (person or video window), in order: the first units
        until at least half of the scores are in, and the rest."""
        known = len(self.units) == len(self.scores)
        units = self.units if known else [str(i) for i in range(len(self.scores))]
        order = list(dict.fromkeys(units))
        first: set[str] = set()
        count = 0
        for unit in order:
            if count * 2 >= len(self.scores):
                break
            first.add(unit)
            count += units.count(unit)
        a = SourceScores(f"{self.name} (1st half)", self.bona_fide, level=self.level)
        b = SourceScores(f"{self.name} (2nd half)", self.bona_fide, level=self.level)
        for score, unit in zip(self.scores, units, strict=True):
            half = a if unit in first else b
            half.scores.append(score)
            half.units.append(unit)
        return a, b


def _attack_sources(path: Path) -> dict[str, str]:
    """For a folder made by ``lockers pad-attacks``: its files (relative to ``path``) → the real
    image or video frame each attack was made from (from ``attacks.csv`` beside or in it)."""
    root = path if path.is_dir() else path.parent
    for csv_dir in (root, root.parent):
        table = csv_dir / "attacks.csv"
        if not table.is_file():
            continue
        out: dict[str, str] = {}
        with open(table, newline="", encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                file, source = row.get("file"), row.get("source")
                if not file or not source:
                    continue
                candidate = csv_dir / file
                if candidate.parent == root or root in candidate.parents:
                    out[candidate.relative_to(root).as_posix()] = source
        return out
    return {}


def _sequence(name: str, attack_sources: dict[str, str]) -> tuple[str, bool, str, int]:
    """(sequence, windowed, unit, order) of one item named as ``real_sources`` names it."""
    is_image = name.lower().endswith(IMAGE_SUFFIXES)
    source = attack_sources.get(name) if is_image else None
    if source is not None:
        variant = _VARIANT.match(Path(name).name)
        v = variant["variant"] if variant else "0"
        unit = source.split("/", 1)[0] if "/" in source else source
        if source.lower().endswith(IMAGE_SUFFIXES):  # the variants of one still photo
            return f"attack of {source}", False, unit, int(v)
        frame = _VIDEO_FRAME.match(source)
        if frame:  # one attack variant replayed over a video's frames
            return f"{frame['video']} variant {v}", True, source, int(frame["index"])
        return f"attack of {source}", False, unit, int(v)
    if is_image:
        return name, False, name.split("/", 1)[0], 0
    frame = _VIDEO_FRAME.match(name)
    if frame:
        return frame["video"], True, name, int(frame["index"])
    return name, False, name, 0


def score_source(
    path: Path,
    *,
    bona_fide: bool,
    detector: FaceDetector,
    pad: PresentationAttackDetector,
    video_every: int = 5,
    gate: QualityConfig | None = None,
    gate_crowd: bool = False,
) -> SourceScores:
    """Detect the subject of every image / video frame under ``path`` and score it (only those
    that pass ``gate``, when given).

    The gate judges the subject (size, confidence, sharpness, light, pose); with
    ``gate_crowd`` a second face in the frame fails it too, exactly as at the kiosk ("one at a
    time"). That is off by default: the crop the models see holds only the subject, and every
    frame of the shared hallway video has a second person in it.

    Files made by ``lockers pad-attacks`` are grouped into presentations with their
    ``attacks.csv`` (see :meth:`SourceScores.presentations`)."""
    result = SourceScores(path.name or str(path), bona_fide)
    attack_sources = {} if bona_fide else _attack_sources(path)
    for name, image in real_sources(path, video_every=video_every):
        sequence, windowed, unit, order = _sequence(name, attack_sources)
        detections = detector.detect(image)
        subject = detections.subject
        score: float | None = None
        crowd = gate_crowd and detections.multiple_faces
        if subject is None:
            status = "no_face"
            result.no_face += 1
        elif gate is not None and not assess(image, subject, gate, multiple_faces=crowd).ok:
            status = "gated"
            result.gated += 1
        else:
            status = "scored"
            score = pad.score(image, subject.box).real
            result.scores.append(score)
            result.units.append(unit)
        frame = FrameScore(name, sequence, windowed, unit, order, score, status)
        if score is not None:
            result.origins.append(frame.origin)
        if subject is not None:
            result.crowded += int(detections.multiple_faces)
        result.frames.append(frame)
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
