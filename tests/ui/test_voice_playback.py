"""The voice on a real sound server: PulseAudio with a null sink (a virtual sound card),
started by the fixture. Playback must start within 200 ms of ``say``, measured with the
sink's own playback clock (``QAudioSink.processedUSecs`` moving on); a new ``say`` stops the
old words; repeat, volume steps, the end of a clip and ``stop`` are checked too.

The checks run in a child Python (this file run as a script, see sound_kit.py: Qt binds to
the sound server once per process); the test asserts on the JSON it prints. Without a sound
server the same child must get a silent voice that says why.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

from sound_kit import run_child, wait_until

START_BOUND_S = 0.2  # the "generous bound" from say to sound out
SAY_BOUND_S = 0.05  # what one say may take on the UI thread once its prompts are cached
SCREENS = [  # what a customer's screens say, in Korean, each interrupting the one before
    [("home.register", {}), ("home.retrieve", {})],
    [("capture.title", {}), ("guide.too_small", {})],
    [("live.turn_left", {}), ("live.hold", {"s": 2})],
    [("ret.open.title", {"label": "A-12"}), ("ret.open.body", {})],
    [("consent.body", {"hours": 24})],
]


def run_probe(data: Path, env: dict[str, str]) -> dict[str, object]:
    return run_child(__file__, [str(data)], env)


def test_playback_starts_within_200_ms_and_follows_the_screens(
    null_sink: str, prompts_data_dir: Path
) -> None:
    report = run_probe(prompts_data_dir, {**os.environ, "PULSE_SERVER": null_sink})
    print("voice on a PulseAudio null sink:", json.dumps(report))
    assert report["voice"] == "AudioVoice", report
    starts = report["start_s"]
    assert isinstance(starts, list) and len(starts) == len(SCREENS)
    assert all(s is not None for s in starts), f"a screen's words never started: {starts}"
    assert max(starts) <= START_BOUND_S, f"sound out after {max(starts):.3f} s"
    assert max(report["warm_say_s"]) <= SAY_BOUND_S, report["warm_say_s"]  # type: ignore[arg-type]
    assert report["old_after_interrupt"] == "StoppedState"
    assert report["new_after_interrupt_started"] is True
    assert report["volume"] == [80, 50, 100, 0]
    linear = report["sink_volume"]
    assert isinstance(linear, list) and linear[0] > linear[1] > 0 and linear[2] == 1.0
    assert report["released_after_end"] is True
    assert report["repeat_started"] is True
    assert report["after_stop"] == {"playing": False, "sink_state": "StoppedState"}


def test_without_a_sound_server_the_voice_is_silent_and_says_why(
    prompts_data_dir: Path, tmp_path: Path
) -> None:
    nowhere = {
        **os.environ,
        "PULSE_SERVER": f"unix:{tmp_path / 'no-such-server'}",
        "XDG_RUNTIME_DIR": str(tmp_path),  # nor a PipeWire socket
        "PIPEWIRE_REMOTE": str(tmp_path / "no-such-pipewire"),
    }
    report = run_probe(prompts_data_dir, nowhere)
    assert report["voice"] == "NoAudioVoice"
    assert "no audio output device" in str(report["reason"])
    assert report["calls_survived"] is True


# --- the child: run as ``python test_voice_playback.py DATA_DIR`` -----------------------------


def _probe(data: Path) -> dict[str, object]:
    from PySide6.QtCore import QCoreApplication

    from lockers.config import Settings
    from lockers.ui.voice import AudioVoice, NoAudioVoice, create_voice
    from lockers.ui.voice_port import Utterance

    app = QCoreApplication([])
    voice = create_voice(Settings(data_dir=data))
    report: dict[str, object] = {"voice": type(voice).__name__}
    if isinstance(voice, NoAudioVoice):
        report["reason"] = voice.reason
        voice.say([Utterance("common.done")], "ko")
        voice.repeat()
        voice.change_volume(1)
        voice.stop()
        report["calls_survived"] = True
        return report
    if not isinstance(voice, AudioVoice):
        return report
    screens = [[Utterance(key, values) for key, values in screen] for screen in SCREENS]
    for screen in screens:  # the first say of each text reads its files: warm them up
        voice.say(screen, "ko")
    voice.stop()
    starts: list[float | None] = []
    says: list[float] = []
    for screen in screens:
        before = time.monotonic()
        voice.say(screen, "ko")
        says.append(time.monotonic() - before)
        wait_until(lambda: voice.started_after_s is not None, 3.0)
        starts.append(voice.started_after_s)
    report["start_s"], report["warm_say_s"] = starts, says
    old = voice.sink  # the consent text, 20 s long, still playing
    voice.say([Utterance("common.done")], "ko")
    report["old_after_interrupt"] = None if old is None else old.state().name
    report["new_after_interrupt_started"] = wait_until(
        lambda: voice.started_after_s is not None, 3.0
    )
    volumes, linear = [voice.volume_percent], [voice.sink.volume() if voice.sink else -1.0]
    for steps in (-3, 10, -20):
        voice.change_volume(steps)
        volumes.append(voice.volume_percent)
        linear.append(voice.sink.volume() if voice.sink else -1.0)
    report["volume"], report["sink_volume"] = volumes, linear
    voice.change_volume(8)
    report["released_after_end"] = wait_until(lambda: not voice.playing, 5.0)
    voice.repeat()
    report["repeat_started"] = wait_until(lambda: voice.started_after_s is not None, 3.0)
    last = voice.sink
    voice.stop()
    report["after_stop"] = {
        "playing": voice.playing,
        "sink_state": None if last is None else last.state().name,
    }
    del app
    return report


if __name__ == "__main__":
    print(json.dumps(_probe(Path(sys.argv[1]))))
