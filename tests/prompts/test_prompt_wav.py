"""Reading the WAV files a site may record (rates, widths, stereo) and joining clips."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import pytest

from lockers.prompts import Clip, PromptError, read_clip
from lockers.prompts.wav import join, resample, trim_silence, write_clip


def tone(seconds: float, rate: int, level: float = 0.5) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (level * np.sin(2 * np.pi * 440 * t)).astype(np.float32)


def write_raw(path: Path, frames: bytes, width: int, channels: int, rate: int) -> None:
    with wave.open(str(path), "wb") as sink:
        sink.setnchannels(channels)
        sink.setsampwidth(width)
        sink.setframerate(rate)
        sink.writeframes(frames)


def test_16_bit_round_trip(tmp_path: Path) -> None:
    clip = Clip(tone(0.5, 22050), 22050)
    write_clip(tmp_path / "a.wav", clip)
    back = read_clip(tmp_path / "a.wav")
    assert back.rate == 22050 and abs(back.seconds - 0.5) < 1e-3
    assert abs(back.peak - 0.5) < 1e-3


def test_a_studio_recording_24_bit_stereo_48k_is_read_as_mono(tmp_path: Path) -> None:
    left = tone(0.25, 48000, 0.8)
    ints = (np.stack([left, left], axis=1) * (2**23 - 1)).astype("<i4")
    frames = b"".join(int(v).to_bytes(3, "little", signed=True) for v in ints.ravel())
    write_raw(tmp_path / "studio.wav", frames, 3, 2, 48000)
    clip = read_clip(tmp_path / "studio.wav")
    assert clip.rate == 48000 and abs(clip.seconds - 0.25) < 1e-3
    assert abs(clip.peak - 0.8) < 1e-3


def test_8_bit_is_unsigned(tmp_path: Path) -> None:
    samples = (tone(0.1, 8000) * 127 + 128).astype(np.uint8)
    write_raw(tmp_path / "old.wav", samples.tobytes(), 1, 1, 8000)
    clip = read_clip(tmp_path / "old.wav")
    assert abs(float(np.mean(clip.samples))) < 0.01 and clip.peak > 0.45


def test_a_broken_file_is_a_prompt_error_naming_it(tmp_path: Path) -> None:
    bad = tmp_path / "ko" / "common.done.wav"
    bad.parent.mkdir()
    bad.write_bytes(b"ID3 this is an mp3")
    with pytest.raises(PromptError) as raised:
        read_clip(bad)
    assert str(bad) in raised.value.message and "WAV" in raised.value.hint


def test_trim_resample_and_join() -> None:
    rate = 22050
    padded = np.concatenate([np.zeros(rate), tone(0.5, rate), np.zeros(rate)])
    trimmed = trim_silence(Clip(padded, rate))
    assert 0.5 <= trimmed.seconds <= 0.5 + 2 * 0.03 + 1e-3
    assert resample(Clip(tone(1.0, 22050), 22050), 44100).samples.shape == (44100,)
    joined = join(
        [[Clip(tone(0.5, 22050), 22050), Clip(tone(0.5, 44100), 44100)], [], [trimmed]],
        gap_s=0.25,
        part_gap_s=0.04,
    )
    assert joined.rate == 44100
    assert abs(joined.seconds - (0.5 + 0.04 + 0.5 + 0.25 + trimmed.seconds)) < 1e-3
    assert join([]).seconds == 0.0
