"""The voice on a real sound server: PulseAudio with a null sink (a virtual sound card),
started by the fixture. Playback must start within 200 ms of ``say``, measured with the
sink's own playback clock (``QAudioSink.processedUSecs`` moving on); a new ``say`` stops the
old words; repeat, volume steps, the end of a clip and ``stop`` are checked too.

Qt's audio backend binds to the sound server the first time it is used in a process, so the
checks run in a child Python (this file run as a script) with the server in its environment;
the test asserts on the JSON it prints. Without a sound server the same child must get a
silent voice that says why.
"""

from __future__ import annotations

import json
import os
import selectors
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

START_BOUND_S = 0.2  # the "generous bound" from say to sound out
SAY_BOUND_S = 0.05  # what one say may take on the UI thread once its prompts are cached
SCREENS = [  # what a customer's screens say, in Korean, each interrupting the one before
    [("home.register", {}), ("home.retrieve", {})],
    [("capture.title", {}), ("guide.too_small", {})],
    [("live.turn_left", {}), ("live.hold", {"s": 2})],
    [("ret.open.title", {"label": "A-12"}), ("ret.open.body", {})],
    [("consent.body", {"hours": 24})],
]


def _pulse_env(runtime: Path) -> dict[str, str]:
    return {**os.environ, "XDG_RUNTIME_DIR": str(runtime), "HOME": str(runtime)}


def _await_line(stream: object, wanted: Callable[[str], bool], timeout_s: float) -> bool:
    """Read lines of a child's pipe until one is ``wanted`` (blocking on the pipe, bounded)."""
    selector = selectors.DefaultSelector()
    selector.register(stream, selectors.EVENT_READ)  # type: ignore[arg-type]
    deadline = time.monotonic() + timeout_s
    try:
        while (left := deadline - time.monotonic()) > 0:
            if not selector.select(left):
                return False
            line = stream.readline()  # type: ignore[attr-defined]
            if not line:
                return False
            if wanted(line):
                return True
        return False
    finally:
        selector.close()


@pytest.fixture(scope="module")
def null_sink(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``PULSE_SERVER`` of a private PulseAudio with a null sink kept running by a 20 ms
    silent stream: an idle null sink renders in blocks of up to 2 s (a new stream would wait
    for the next block), a sound card's clock runs continuously; the keep-alive stream makes
    the virtual card behave like the real one."""
    tools = {name: shutil.which(name) for name in ("pulseaudio", "pactl", "pacat")}
    if not all(tools.values()):
        pytest.skip(
            "PulseAudio is not installed (.ci/run installs it: "
            "apt-get install pulseaudio pulseaudio-utils)"
        )
    runtime = tmp_path_factory.mktemp("pulse")
    socket = runtime / "native"
    env = _pulse_env(runtime)
    server = f"unix:{socket}"
    started = subprocess.run(
        [
            str(tools["pulseaudio"]),
            "-n",
            "--daemonize=yes",
            "--exit-idle-time=-1",
            "--load=module-null-sink sink_name=lockers_test",
            f"--load=module-native-protocol-unix socket={socket} auth-anonymous=1",
            "--log-level=error",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )  # --daemonize returns once the daemon is up and its modules are loaded
    if started.returncode != 0:
        pytest.fail(f"PulseAudio did not start: {started.stderr.strip()}")
    client_env = {**env, "PULSE_SERVER": server}
    events = subprocess.Popen(
        [str(tools["pactl"]), "subscribe"], env=client_env, stdout=subprocess.PIPE, text=True
    )
    keep_alive = subprocess.Popen(
        [str(tools["pacat"]), "--playback", "--latency-msec=20", "--raw", "/dev/zero"],
        env=client_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        playing = _await_line(events.stdout, lambda line: "'new' on sink-input" in line, 10.0)
        events.terminate()
        events.wait(timeout=10)
        assert events.stdout is not None
        events.stdout.close()
        assert playing, "the keep-alive stream never reached the null sink"
        yield server
    finally:
        keep_alive.terminate()
        keep_alive.wait(timeout=10)
        if events.poll() is None:
            events.kill()
            events.wait(timeout=10)
        if events.stdout is not None and not events.stdout.closed:
            events.stdout.close()
        subprocess.run([str(tools["pulseaudio"]), "--kill"], env=env, timeout=30, check=False)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed (.ci/run installs it: apt-get install espeak-ng)")
    from lockers.prompts import build_language

    data = tmp_path_factory.mktemp("data")
    build_language(data / "prompts", "ko")
    return data


def run_probe(data: Path, env: dict[str, str]) -> dict[str, object]:
    child = subprocess.run(
        [sys.executable, __file__, str(data)],
        env={**env, "QT_QPA_PLATFORM": "offscreen"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert child.returncode == 0, child.stderr[-3000:]
    return json.loads(child.stdout.strip().splitlines()[-1])


def test_playback_starts_within_200_ms_and_follows_the_screens(
    null_sink: str, data_dir: Path
) -> None:
    report = run_probe(data_dir, {**os.environ, "PULSE_SERVER": null_sink})
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
    data_dir: Path, tmp_path: Path
) -> None:
    nowhere = {
        **os.environ,
        "PULSE_SERVER": f"unix:{tmp_path / 'no-such-server'}",
        "XDG_RUNTIME_DIR": str(tmp_path),  # nor a PipeWire socket
        "PIPEWIRE_REMOTE": str(tmp_path / "no-such-pipewire"),
    }
    report = run_probe(data_dir, nowhere)
    assert report["voice"] == "NoAudioVoice"
    assert "no audio output device" in str(report["reason"])
    assert report["calls_survived"] is True


# --- the child: run as ``python test_voice_playback.py DATA_DIR`` -----------------------------


def _wait_until(condition: Callable[[], bool], timeout_s: float) -> bool:
    """Run Qt's event loop until ``condition`` holds (checked every 5 ms) or the time is up."""
    from PySide6.QtCore import QEventLoop, QTimer

    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            return False
        loop = QEventLoop()
        QTimer.singleShot(5, loop.quit)
        loop.exec()
    return True


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
        _wait_until(lambda: voice.started_after_s is not None, 3.0)
        starts.append(voice.started_after_s)
    report["start_s"], report["warm_say_s"] = starts, says
    old = voice.sink  # the consent text, 20 s long, still playing
    voice.say([Utterance("common.done")], "ko")
    report["old_after_interrupt"] = None if old is None else old.state().name
    report["new_after_interrupt_started"] = _wait_until(
        lambda: voice.started_after_s is not None, 3.0
    )
    volumes, linear = [voice.volume_percent], [voice.sink.volume() if voice.sink else -1.0]
    for steps in (-3, 10, -20):
        voice.change_volume(steps)
        volumes.append(voice.volume_percent)
        linear.append(voice.sink.volume() if voice.sink else -1.0)
    report["volume"], report["sink_volume"] = volumes, linear
    voice.change_volume(8)
    report["released_after_end"] = _wait_until(lambda: not voice.playing, 5.0)
    voice.repeat()
    report["repeat_started"] = _wait_until(lambda: voice.started_after_s is not None, 3.0)
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
