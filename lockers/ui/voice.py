"""The kiosk's voice: prompt files played through Qt Multimedia, never blocking the UI.

:func:`create_voice` is what the composition root calls. It gives the audio player when the
voice is on, Qt Multimedia (PySide6-Addons) is installed and there is an audio output; else a
silent voice that logged why (the kiosk works on, silently; ``lockers doctor`` says so too).

Playback: the prompt files of one ``say`` are decoded (cached), joined into one clip (parts of
a text close together, a pause between texts) and handed to a ``QAudioSink`` in pull mode from
an in-memory buffer: Qt's audio thread reads it, the UI thread only starts and stops it. A new
``say`` stops the old sink first, so stale words never overlap the new screen's.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from lockers.prompts import Clip, PromptError, PromptLibrary, read_clip
from lockers.prompts.wav import join, resample, to_pcm16
from lockers.ui.voice_port import SilentVoice, Utterance, Voice

if TYPE_CHECKING:
    from PySide6.QtCore import QBuffer
    from PySide6.QtMultimedia import QAudioDevice, QAudioSink

    from lockers.config import Settings

log = logging.getLogger(__name__)
POLL_MS = 10  # how often the UI thread looks at the sink: first audio out, end of the clip
# Decoded prompts kept: a visit's texts in both languages fit; the whole catalogue (~630
# files, float32 at 22 kHz) is not held, a rarely said prompt is read again.
CACHE_CLIPS = 256


class NoAudioVoice(SilentVoice):
    """Silent, and says why (no audio output, Qt Multimedia missing, voice off)."""

    def __init__(self, reason: str) -> None:
        self.reason = reason


def create_voice(settings: Settings) -> Voice:
    """The kiosk's voice for ``settings`` (see the module's text for the silent cases)."""
    if not settings.accessibility.voice:
        log.info("voice guidance off (accessibility.voice: false)")
        return NoAudioVoice("voice guidance off in the config (accessibility.voice: false)")
    try:
        from PySide6.QtMultimedia import QMediaDevices
    except ImportError as exc:
        reason = f"Qt Multimedia (PySide6-Addons) is not installed: {exc}"
        log.warning("voice guidance is silent: %s", reason)
        return NoAudioVoice(reason)
    device = QMediaDevices.defaultAudioOutput()
    if device.isNull():
        reason = "no audio output device (speakers, earphone jack) found"
        log.warning("voice guidance is silent: %s; `lockers doctor` checks the audio", reason)
        return NoAudioVoice(reason)
    log.info("voice guidance plays on %s", device.description())
    return AudioVoice(
        PromptLibrary.from_settings(settings),
        volume_percent=settings.accessibility.volume_percent,
        step_percent=settings.accessibility.volume_step_percent,
    )


class ClipCache:
    """Decoded prompt files, newest used last; a file replaced on disk is read again."""

    def __init__(self, size: int = CACHE_CLIPS) -> None:
        self._size = size
        self._clips: OrderedDict[Path, tuple[tuple[int, int], Clip]] = OrderedDict()

    def get(self, path: Path) -> Clip:
        """Raises: PromptError, OSError: the file is unreadable."""
        stat = path.stat()
        stamp = (stat.st_mtime_ns, stat.st_size)
        cached = self._clips.get(path)
        if cached is not None and cached[0] == stamp:
            self._clips.move_to_end(path)
            return cached[1]
        clip = read_clip(path)
        self._clips[path] = (stamp, clip)
        while len(self._clips) > self._size:
            self._clips.popitem(last=False)
        return clip


class AudioVoice:
    """Plays the prompts of :class:`PromptLibrary` on the default audio output."""

    def __init__(
        self,
        library: PromptLibrary,
        *,
        volume_percent: int = 80,
        step_percent: int = 10,
        on_started: Callable[[float], None] | None = None,
    ) -> None:
        from PySide6.QtCore import QTimer

        self._library = library
        self._volume = max(0, min(100, volume_percent))
        self._step = step_percent
        self._clips = ClipCache()
        self._sink: QAudioSink | None = None
        self._buffer: QBuffer | None = None
        self._last: tuple[tuple[Utterance, ...], str] = ((), "")
        self._said_at = 0.0
        self._first_processed_us: int | None = None  # the sink's clock at its first report
        self._missing_device_logged = False
        # Seconds from ``say`` until the sink's own playback clock (processedUSecs) first moved
        # on from the buffer it was primed with: sound is going out. None until then.
        # ``on_started`` hears it too (tests, logs).
        self.started_after_s: float | None = None
        self.on_started = on_started
        self._poll = QTimer()
        self._poll.setInterval(POLL_MS)
        self._poll.timeout.connect(self._on_poll)

    @property
    def volume_percent(self) -> int:
        return self._volume

    @property
    def playing(self) -> bool:
        return self._sink is not None

    @property
    def sink(self) -> QAudioSink | None:
        """The sink playing now (diagnostics and tests: its clock, state and volume)."""
        return self._sink

    def say(self, utterances: Sequence[Utterance], language: str) -> None:
        self._last = (tuple(utterances), language)
        self._play(self._last[0], language)

    def repeat(self) -> None:
        utterances, language = self._last
        if utterances:
            self._play(utterances, language)

    def change_volume(self, steps: int) -> None:
        self._volume = max(0, min(100, self._volume + steps * self._step))
        if self._sink is not None:
            self._sink.setVolume(_linear(self._volume))

    def stop(self) -> None:
        self._halt()

    def _play(self, utterances: Sequence[Utterance], language: str) -> None:
        self._halt()
        self._said_at = time.monotonic()
        self.started_after_s = None
        clip = self._clip_of(utterances, language)
        if clip is None:
            return
        from PySide6.QtMultimedia import QMediaDevices

        device = QMediaDevices.defaultAudioOutput()
        if device.isNull():
            if not self._missing_device_logged:
                log.warning("voice guidance is silent: the audio output went away")
                self._missing_device_logged = True
            return
        self._missing_device_logged = False
        self._start(device, clip)

    def _clip_of(self, utterances: Sequence[Utterance], language: str) -> Clip | None:
        """All files of ``utterances`` as one clip; a broken file is logged and left out."""
        groups: list[list[Clip]] = []
        for utterance in utterances:
            group: list[Clip] = []
            for path in self._library.resolve(utterance, language):
                try:
                    group.append(self._clips.get(path))
                except (OSError, PromptError) as exc:
                    log.warning("prompt %s left out: %s", path, exc)
            groups.append(group)
        clip = join(groups)
        return clip if len(clip.samples) else None

    def _start(self, device: QAudioDevice, clip: Clip) -> None:
        from PySide6.QtCore import QBuffer, QByteArray, QIODevice
        from PySide6.QtMultimedia import QAudioFormat, QAudioSink

        audio_format = QAudioFormat()
        audio_format.setSampleFormat(QAudioFormat.SampleFormat.Int16)
        audio_format.setChannelCount(1)
        audio_format.setSampleRate(clip.rate)
        channels = 1
        if not device.isFormatSupported(audio_format):  # the device's own rate and channels
            preferred = device.preferredFormat()
            clip = resample(clip, preferred.sampleRate())
            channels = max(1, preferred.channelCount())
            audio_format.setSampleRate(clip.rate)
            audio_format.setChannelCount(channels)
        samples = clip.samples if channels == 1 else clip.samples.repeat(channels)
        buffer = QBuffer()
        buffer.setData(QByteArray(to_pcm16(samples)))
        buffer.open(QIODevice.OpenModeFlag.ReadOnly)
        sink = QAudioSink(device, audio_format)
        sink.setVolume(_linear(self._volume))
        self._sink, self._buffer, self._first_processed_us = sink, buffer, None
        sink.start(buffer)  # pull mode: Qt's audio side reads the buffer from here on
        self._poll.start()

    def _on_poll(self) -> None:
        """Notes when audio first went out, and releases the sink once the clip has played
        (PySide6 cannot deliver QAudioSink.stateChanged's enum: it is polled instead)."""
        from PySide6.QtMultimedia import QtAudio

        sink = self._sink
        if sink is None:
            self._poll.stop()
            return
        if self.started_after_s is None:
            self._note_start(sink.processedUSecs())
        state = sink.state()
        if state == QtAudio.State.IdleState:  # the buffer is played out
            self._halt()
        elif state == QtAudio.State.StoppedState and sink.error() != QtAudio.Error.NoError:
            log.warning("voice guidance stopped: audio output error %s", sink.error().name)
            self._halt()

    def _note_start(self, processed_us: int) -> None:
        # The backend reports a first position as soon as it has taken the first buffer; the
        # sound is going out once that clock moves on.
        if processed_us <= 0:
            return
        if self._first_processed_us is None:
            self._first_processed_us = processed_us
            return
        if processed_us > self._first_processed_us:
            self.started_after_s = time.monotonic() - self._said_at
            log.debug("voice: sound out %.0f ms after say", self.started_after_s * 1000)
            if self.on_started is not None:
                self.on_started(self.started_after_s)

    def _halt(self) -> None:
        self._poll.stop()
        sink, buffer = self._sink, self._buffer
        self._sink = self._buffer = None
        if sink is not None:
            sink.stop()  # the audio side lets go of the buffer before both are dropped
        if buffer is not None:
            buffer.close()


def _linear(percent: int) -> float:
    """A volume step sounds like a step: the percentage is on a loudness (logarithmic) scale,
    the sink takes a linear factor."""
    from PySide6.QtMultimedia import QtAudio

    return float(
        QtAudio.convertVolume(
            percent / 100.0,
            QtAudio.VolumeScale.LogarithmicVolumeScale,
            QtAudio.VolumeScale.LinearVolumeScale,
        )
    )
