"""``create_voice``'s silent cases, in this process: voice off, Qt Multimedia missing; and the
player's cache of decoded prompts (a replaced site recording is read again). Playback on a
real sound server: test_voice_playback.py."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import numpy as np
import pytest

from lockers.config import Settings
from lockers.prompts import Clip
from lockers.prompts.wav import write_clip
from lockers.ui.voice import ClipCache, NoAudioVoice, create_voice
from lockers.ui.voice_port import Utterance


def test_voice_off_in_the_config_is_silent(tmp_path: Path) -> None:
    voice = create_voice(Settings(data_dir=tmp_path, accessibility={"voice": False}))
    assert isinstance(voice, NoAudioVoice)
    assert "accessibility.voice: false" in voice.reason
    voice.say([Utterance("common.done")], "ko")
    voice.repeat()
    voice.change_volume(-1)
    voice.stop()


def test_without_qt_multimedia_the_voice_is_silent_and_logs_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setitem(sys.modules, "PySide6.QtMultimedia", None)  # import raises ImportError
    with caplog.at_level(logging.WARNING, logger="lockers.ui.voice"):
        voice = create_voice(Settings(data_dir=tmp_path))
    assert isinstance(voice, NoAudioVoice)
    assert "PySide6-Addons" in voice.reason
    assert "voice guidance is silent" in caplog.text


def test_a_replaced_recording_is_read_again(tmp_path: Path) -> None:
    path = tmp_path / "common.done.wav"
    write_clip(path, Clip(np.full(2205, 0.25, dtype=np.float32), 22050))
    cache = ClipCache(size=2)
    first = cache.get(path)
    assert cache.get(path) is first  # unchanged: from the cache
    write_clip(path, Clip(np.full(4410, 0.5, dtype=np.float32), 22050))
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    second = cache.get(path)
    assert second is not first and abs(second.seconds - 0.2) < 1e-3
    for index in range(3):  # the oldest entries leave the cache
        other = tmp_path / f"other{index}.wav"
        write_clip(other, Clip(np.zeros(10, dtype=np.float32), 22050))
        cache.get(other)
    assert cache.get(path) is not second
