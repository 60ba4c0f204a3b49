"""The camera loop without Qt: a frame whose analysis raises is skipped, only N in a row is a
model fault, and the loop recovers by itself. Frames are handed over one by one by the test,
and every wait is on an event the loop reports (never on the clock)."""

from __future__ import annotations

import queue
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from lockers.ui.camera_loop import CameraLoop, FramePacket, ModelInfo
from lockers.vision.camera import Frame, FrameSource
from lockers.vision.pipeline import Analysis
from lockers.vision.quality import QualityIssue, QualityReport
from lockers.vision.types import Detections

WAIT_S = 10.0


class HandedCamera(FrameSource):
    """Delivers a frame each time the test calls :meth:`hand` (blocks in between)."""

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[bool] = queue.SimpleQueue()
        self._index = 0

    @property
    def name(self) -> str:
        return "handed camera"

    def hand(self, count: int = 1) -> None:
        for _ in range(count):
            self._queue.put(True)

    def read(self) -> Frame | None:
        if not self._queue.get():
            return None  # interrupted
        self._index += 1
        image = np.zeros((48, 64, 3), dtype=np.uint8)
        return Frame(image, time.monotonic(), self._index, self.name)

    def interrupt(self) -> None:
        self._queue.put(False)

    def close(self) -> None:
        self._queue.put(False)


class FlakyAnalyser:
    """The analyser double (the model boundary): sees nobody, or raises when told to."""

    embedder = SimpleNamespace(model_version="double@1", backend="double")

    def __init__(self) -> None:
        self.fail_next = 0
        self.calls = 0

    def analyse(self, image: npt.NDArray[np.uint8], *, embed: bool, frame_index: int) -> Analysis:
        self.calls += 1
        if self.fail_next:
            self.fail_next -= 1
            raise RuntimeError("onnxruntime: invalid input shape")
        h, w = image.shape[:2]
        return Analysis(Detections((w, h)), QualityReport((QualityIssue.NO_FACE,)))

    def embed_aligned(self, faces: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
        return np.zeros((len(faces), 512), dtype=np.float32)


class Recorder:
    """The loop's events, in order; waits on a condition for the ones a test expects."""

    def __init__(self) -> None:
        self.events: list[tuple[str, Any]] = []
        self._changed = threading.Condition()

    def _add(self, name: str, value: Any = None) -> None:
        with self._changed:
            self.events.append((name, value))
            self._changed.notify_all()

    def named(self, name: str) -> list[Any]:
        with self._changed:
            return [value for event, value in self.events if event == name]

    def wait(self, what: Callable[[], bool]) -> None:
        with self._changed:
            assert self._changed.wait_for(what, timeout=WAIT_S), self.events

    def wait_frames(self, count: int) -> list[FramePacket]:
        self.wait(lambda: len(self.named("frame")) >= count)
        return self.named("frame")

    def model_ready(self, info: ModelInfo) -> None:
        self._add("model_ready", info)

    def model_failed(self, message: str, hint: str) -> None:
        self._add("model_failed", message)

    def camera_online(self, name: str) -> None:
        self._add("camera_online", name)

    def camera_offline(self, message: str) -> None:
        self._add("camera_offline", message)

    def frame(self, packet: FramePacket) -> None:
        self._add("frame", packet)

    def faces_embedded(self, job: int, embeddings: npt.NDArray[np.float32]) -> None:
        self._add("faces_embedded", job)

    def embed_failed(self, job: int, message: str) -> None:
        self._add("embed_failed", message)

    def analysis_failing(self, message: str) -> None:
        self._add("analysis_failing", message)

    def analysis_recovered(self) -> None:
        self._add("analysis_recovered")


@dataclass
class Running:
    loop: CameraLoop
    camera: HandedCamera
    analyser: FlakyAnalyser
    events: Recorder
    beats: list[int]


@pytest.fixture
def running() -> Iterator[Running]:
    camera, analyser, events, beats = HandedCamera(), FlakyAnalyser(), Recorder(), [0]

    def beat() -> None:
        beats[0] += 1

    loop = CameraLoop(
        lambda: analyser,  # type: ignore[arg-type,return-value]
        lambda: camera,
        events,
        max_frame_failures=3,
        beat=beat,
    )
    loop.analyse.set()
    thread = threading.Thread(target=loop.run, name="camera-loop-test")
    thread.start()
    events.wait(lambda: bool(events.named("camera_online")))
    yield Running(loop, camera, analyser, events, beats)
    loop.stop()
    thread.join(WAIT_S)
    assert not thread.is_alive()


def test_one_bad_frame_is_skipped_and_the_camera_goes_on(running: Running) -> None:
    running.analyser.fail_next = 1
    running.camera.hand(3)
    frames = running.events.wait_frames(3)
    assert frames[0].observation is None  # the frame that raised: shown, not analysed
    assert all(p.observation is not None for p in frames[1:])
    assert running.loop.failed_frames == 1
    assert running.events.named("analysis_failing") == []
    assert running.events.named("camera_offline") == []  # never the camera's fault


def test_failures_in_a_row_are_a_model_fault_that_clears_itself(running: Running) -> None:
    events, camera, analyser = running.events, running.camera, running.analyser
    # Two in a row, then a good frame: the count starts again.
    analyser.fail_next = 2
    camera.hand(3)
    events.wait_frames(3)
    analyser.fail_next = 2
    camera.hand(2)
    events.wait_frames(5)
    assert events.named("analysis_failing") == []
    # One more makes three in a row: reported once, as the model's fault, with its reason.
    analyser.fail_next = 4
    camera.hand(4)
    events.wait_frames(9)
    [reason] = events.named("analysis_failing")
    assert "3 frames in a row" in reason and "invalid input shape" in reason
    assert events.named("camera_offline") == []
    # The kiosk went home (no screen analyses): the loop keeps probing every frame...
    running.loop.analyse.clear()
    camera.hand(1)
    events.wait(lambda: bool(events.named("analysis_recovered")))
    probe = events.named("frame")[-1]
    assert probe.observation is not None
    # ...and once recovered, idle screens' frames are only shown again.
    calls = analyser.calls
    camera.hand(2)
    frames = events.wait_frames(12)
    assert [p.observation for p in frames[-2:]] == [None, None]
    assert analyser.calls == calls
    assert events.named("analysis_failing") == [reason]


def test_every_turn_of_the_loop_beats(running: Running) -> None:
    before = running.beats[0]
    running.camera.hand(5)
    running.events.wait_frames(5)
    assert running.beats[0] >= before + 5


def test_a_model_that_cannot_load_is_reported_and_the_thread_idles_beating_until_stopped() -> None:
    """Out of order with the reason, but not hung: the watchdog must not restart it in a loop."""
    events = Recorder()
    beats = threading.Semaphore(0)

    def broken() -> Any:
        raise RuntimeError("no such file: facenet.onnx")

    loop = CameraLoop(broken, HandedCamera, events, beat=beats.release)
    worker = threading.Thread(target=loop.run)
    worker.start()
    try:
        for _ in range(3):  # the start's beat, then the idle beats (1 s apart)
            assert beats.acquire(timeout=10.0)
    finally:
        loop.stop()
        worker.join(timeout=10.0)
    assert not worker.is_alive()
    [message] = events.named("model_failed")
    assert "facenet.onnx" in message
    assert events.named("frame") == []


def test_the_cores_need_no_qt() -> None:
    code = (
        "import sys\n"
        "import lockers.ui.camera_loop, lockers.ui.job_dispatch, lockers.ui.flow_bridge\n"
        "import lockers.ui.health_monitor, lockers.ui.staff_controller\n"
        "assert not [m for m in sys.modules if m.startswith('PySide6')], 'Qt imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
