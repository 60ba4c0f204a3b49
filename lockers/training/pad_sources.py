"""Scoring the files of a PAD source: each image or video frame under a path is detected, gated
like the kiosk, scored by the anti-spoofing models, and placed in its sequence (a video, an
attack variant, a still photo) with the help of the ``attacks.csv`` that ``lockers
pad-attacks`` writes."""

from __future__ import annotations

import csv
import re
from pathlib import Path

from lockers.config import QualityConfig
from lockers.errors import LockersError
from lockers.training.pad_attacks import real_sources
from lockers.training.pad_scores import FrameScore, SourceScores
from lockers.vision.antispoof import PresentationAttackDetector
from lockers.vision.detector import FaceDetector
from lockers.vision.quality import assess

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
_VARIANT = re.compile(r"^(?P<stem>.+)-(?P<variant>\d+)\.[A-Za-z]+$")
_VIDEO_FRAME = re.compile(r"^(?P<video>.+)-(?P<index>\d+)$")


class PadEvaluationError(LockersError):
    """evaluate-pad or pad-attacks were given nothing usable."""


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
