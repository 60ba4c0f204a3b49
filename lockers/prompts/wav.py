"""Prompt audio as numbers: read a WAV file, measure it, trim its silence, join clips.

Only PCM WAV (what espeak-ng writes and what a site's recording software exports by default):
8-, 16-, 24- or 32-bit integer samples, any rate, mono or stereo (mixed down to mono: the
kiosk speaks from one loudspeaker).
"""

from __future__ import annotations

import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lockers.errors import LockersError

# Below this (full scale = 1.0) a sample counts as silence when trimming and checking.
SILENCE_LEVEL = 0.02
_DTYPES = {1: np.uint8, 2: np.int16, 4: np.int32}


class PromptError(LockersError):
    """A prompt cannot be built, read or played: espeak-ng missing, a broken WAV file."""


@dataclass(frozen=True)
class Clip:
    """Mono audio, ``samples`` as float32 in [-1, 1] at ``rate`` Hz."""

    samples: np.ndarray
    rate: int

    @property
    def seconds(self) -> float:
        return len(self.samples) / self.rate if self.rate else 0.0

    @property
    def peak(self) -> float:
        return float(np.max(np.abs(self.samples))) if len(self.samples) else 0.0

    @property
    def rms(self) -> float:
        if not len(self.samples):
            return 0.0
        return float(np.sqrt(np.mean(np.square(self.samples, dtype=np.float64))))


def read_clip(path: Path) -> Clip:
    """The file's audio, mono float.

    Raises:
        PromptError: not a PCM WAV file we can read (the message names the file).
    """
    try:
        with wave.open(str(path), "rb") as source:
            width, channels = source.getsampwidth(), source.getnchannels()
            rate, frames = source.getframerate(), source.readframes(source.getnframes())
    except (OSError, EOFError, wave.Error) as exc:
        raise PromptError(
            f"prompt {path} is not a readable PCM WAV file: {exc}",
            hint="export it as WAV (PCM, 16-bit) or rebuild it with `lockers prompts build`",
        ) from exc
    samples = _decode(frames, width)
    if channels > 1:
        samples = samples[: len(samples) - len(samples) % channels]
        samples = samples.reshape(-1, channels).mean(axis=1)
    return Clip(samples.astype(np.float32), rate)


def _decode(frames: bytes, width: int) -> np.ndarray:
    if width == 3:  # 24-bit: widen each sample to 32 bits, sign kept by the top byte
        raw = np.frombuffer(frames[: len(frames) - len(frames) % 3], dtype=np.uint8)
        padded = np.zeros((len(raw) // 3, 4), dtype=np.uint8)
        padded[:, 1:] = raw.reshape(-1, 3)
        return padded.view("<i4").ravel().astype(np.float64) / 2**31
    dtype = _DTYPES.get(width)
    if dtype is None:
        raise PromptError(f"{width * 8}-bit WAV samples are not supported", hint="use 16-bit PCM")
    values = np.frombuffer(frames[: len(frames) - len(frames) % width], dtype=dtype)
    if width == 1:  # 8-bit WAV is unsigned
        return (values.astype(np.float64) - 128.0) / 128.0
    return values.astype(np.float64) / float(2 ** (8 * width - 1))


def write_clip(path: Path, clip: Clip) -> None:
    """16-bit mono PCM WAV."""
    with wave.open(str(path), "wb") as sink:
        sink.setnchannels(1)
        sink.setsampwidth(2)
        sink.setframerate(clip.rate)
        sink.writeframes(to_pcm16(clip.samples))


def to_pcm16(samples: np.ndarray) -> bytes:
    return (np.clip(samples, -1.0, 1.0) * 32767.0).astype("<i2").tobytes()


def trim_silence(clip: Clip, margin_s: float = 0.03) -> Clip:
    """Without the silence before the first and after the last sound (keeps ``margin_s``):
    parts of one sentence then follow each other without gaps."""
    loud = np.flatnonzero(np.abs(clip.samples) >= SILENCE_LEVEL)
    if not len(loud):
        return clip
    margin = int(margin_s * clip.rate)
    start, end = max(0, loud[0] - margin), min(len(clip.samples), loud[-1] + 1 + margin)
    return Clip(clip.samples[start:end], clip.rate)


def resample(clip: Clip, rate: int) -> Clip:
    """At ``rate`` Hz (linear interpolation: enough for speech)."""
    if clip.rate == rate or not len(clip.samples):
        return Clip(clip.samples, rate)
    count = max(1, round(len(clip.samples) * rate / clip.rate))
    positions = np.linspace(0.0, len(clip.samples) - 1, count)
    return Clip(np.interp(positions, np.arange(len(clip.samples)), clip.samples), rate)


def join(groups: list[list[Clip]], gap_s: float = 0.25, part_gap_s: float = 0.04) -> Clip:
    """One clip: the clips of each group (the parts of one text) close together, a pause
    between groups (one text and the next). The rate is the highest of the clips."""
    clips = [clip for group in groups for clip in group]
    if not clips:
        return Clip(np.zeros(0, dtype=np.float32), 22050)
    rate = max(clip.rate for clip in clips)
    pieces: list[np.ndarray] = []
    for number, group in enumerate(g for g in groups if g):
        if number:
            pieces.append(np.zeros(int(gap_s * rate), dtype=np.float32))
        for index, clip in enumerate(group):
            if index:
                pieces.append(np.zeros(int(part_gap_s * rate), dtype=np.float32))
            pieces.append(resample(clip, rate).samples.astype(np.float32))
    return Clip(np.concatenate(pieces), rate)
