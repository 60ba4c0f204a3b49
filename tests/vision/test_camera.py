"""Camera sources over real media: the shared face video, real face photos, a real HTTP stream."""

from __future__ import annotations

import functools
import logging
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import cv2
import numpy as np
import pytest

from lockers.config import CameraConfig
from lockers.errors import CameraError
from lockers.vision.camera import (
    CameraOffline,
    Frame,
    FrameSource,
    ImageFolderSource,
    Pacer,
    ReconnectingSource,
    VideoFileSource,
    mask_credentials,
    open_source,
    to_rgb,
)

VIDEO_FRAMES = 105  # faces.mp4: 1920x1080, 25 fps


@pytest.fixture(scope="session")
def video(shared_faces: Path) -> Path:
    return shared_faces / "video" / "faces.mp4"


def _read_all(source: FrameSource, limit: int = 1000) -> list[Frame]:
    frames = []
    while (frame := source.read()) is not None:
        frames.append(frame)
        assert len(frames) <= limit, "a non-looping replay never ended"
    return frames


def _short_clip(video: Path, target: Path, frames: int = 4) -> Path:
    """The first frames of the real video, small, as MJPG AVI (readable sequentially over HTTP)."""
    capture = cv2.VideoCapture(str(video))
    writer = cv2.VideoWriter(str(target), cv2.VideoWriter_fourcc(*"MJPG"), 25, (320, 180))
    for _ in range(frames):
        ok, image = capture.read()
        assert ok
        writer.write(cv2.resize(image, (320, 180), interpolation=cv2.INTER_AREA))
    writer.release()
    capture.release()
    return target


# --- frames --------------------------------------------------------------------------------------


def test_video_frames_are_rgb_uint8_with_increasing_timestamps_and_indices(video: Path) -> None:
    with open_source(CameraConfig(source=str(video))) as source:
        frames = [source.read() for _ in range(5)]
    assert all(f is not None for f in frames)
    for frame in frames:
        assert frame is not None
        assert frame.image.dtype == np.uint8
        assert frame.image.shape == (480, 640, 3)
        assert frame.image.flags.c_contiguous
        assert frame.source == str(video)
    assert [f.index for f in frames if f] == [0, 1, 2, 3, 4]
    stamps = [f.timestamp for f in frames if f]
    assert (np.diff(stamps) > 0).all()
    assert abs(stamps[-1] - time.monotonic()) < 5


def test_colour_order_is_rgb_not_bgr(video: Path) -> None:
    capture = cv2.VideoCapture(str(video))
    ok, bgr = capture.read()
    capture.release()
    assert ok
    with open_source(CameraConfig(source=str(video)), resize=False) as source:
        frame = source.read()
    assert frame is not None
    assert frame.content_box is None
    np.testing.assert_array_equal(frame.image, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    assert not np.array_equal(frame.image, bgr)  # a real picture is not grey: the order matters


def test_resize_letterboxes_16_9_into_640x480(video: Path) -> None:
    with open_source(CameraConfig(source=str(video), width=640, height=480)) as source:
        frame = source.read()
    assert frame is not None
    assert frame.image.shape == (480, 640, 3)
    assert frame.content_box == (0, 60, 640, 360)  # 1920x1080 scaled by 1/3, centred
    assert not frame.image[:60].any() and not frame.image[420:].any()  # black bars
    assert frame.image[60:420].mean() > 20  # the picture itself


def test_to_rgb_handles_grey_and_bgra_and_exact_size() -> None:
    grey = np.full((30, 40), 7, np.uint8)
    rgb, box = to_rgb(grey, None)
    assert rgb.shape == (30, 40, 3) and box is None and (rgb == 7).all()
    bgra = np.zeros((30, 40, 4), np.uint8)
    bgra[..., 0] = 255  # blue
    rgb, box = to_rgb(bgra, (80, 60))  # same aspect: a plain upscale, no bars
    assert rgb.shape == (60, 80, 3) and box is None
    assert (rgb[..., 2] == 255).all() and not rgb[..., 0].any()


@pytest.mark.parametrize(
    ("image", "problem"),
    [
        (np.zeros((4, 4), np.uint8), "shape"),
        (np.zeros((4, 4, 3), np.float32), "uint8"),
        (np.zeros((4, 8, 3), np.uint8)[:, ::2], "contiguous"),
    ],
)
def test_frame_rejects_images_that_are_not_rgb_uint8(image: np.ndarray, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        Frame(image, 0.0, 0, "test")


# --- replay ends and loops -----------------------------------------------------------------------


def test_end_of_video_without_loop_returns_none(video: Path) -> None:
    with open_source(CameraConfig(source=str(video), loop=False), resize=False) as source:
        frames = _read_all(source)
        assert source.read() is None  # and stays ended
    assert len(frames) == VIDEO_FRAMES
    assert frames[-1].index == VIDEO_FRAMES - 1


def test_looping_video_wraps_around_with_increasing_indices(video: Path) -> None:
    with open_source(CameraConfig(source=str(video), loop=True, width=160, height=90)) as source:
        frames = [source.read() for _ in range(VIDEO_FRAMES + 2)]
    first, wrapped = frames[0], frames[VIDEO_FRAMES]
    assert first is not None and wrapped is not None
    assert wrapped.index == VIDEO_FRAMES
    np.testing.assert_array_equal(wrapped.image, first.image)


# --- errors naming the source --------------------------------------------------------------------


def test_missing_video_file_names_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "clip.mp4"
    with pytest.raises(CameraError, match="does not exist") as info:
        open_source(CameraConfig(source=str(missing)))
    assert str(missing) in info.value.message
    assert "camera.source" in info.value.hint


def test_relative_paths_resolve_against_base_dir(video: Path, tmp_path: Path) -> None:
    config = CameraConfig(source=video.name)
    with open_source(config, base_dir=video.parent) as source:
        assert source.name == str(video)
    with pytest.raises(CameraError, match="does not exist"):
        open_source(config, base_dir=tmp_path)


def test_file_that_is_not_a_video_is_refused(tmp_path: Path) -> None:
    fake = tmp_path / "clip.mp4"
    fake.write_text("this is not a video\n" * 100)
    with pytest.raises(CameraError, match="not a video") as info:
        open_source(CameraConfig(source=str(fake)))
    assert str(fake) in info.value.message


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("7", "camera 7 (/dev/video7) is not present"),
        ("/dev/video77", "camera /dev/video77 is not present"),
        # Exists and is writable, but V4L2 cannot capture from it: busy / not a capture node.
        ("/dev/null", "cannot be opened or gives no picture"),
        ("rtsp://kiosk:s3cret@127.0.0.1:1/stream", "rtsp://kiosk:***@127.0.0.1:1/stream"),
        ("http://127.0.0.1:1/video.mjpg", "stream http://127.0.0.1:1/video.mjpg cannot be opened"),
        ("ftp://127.0.0.1/clip.mp4", "unsupported scheme"),
        ("   ", "camera.source is empty"),
    ],
)
def test_live_source_that_cannot_be_opened_names_it(source: str, expected: str) -> None:
    with pytest.raises(CameraError) as info:
        open_source(CameraConfig(source=source))
    assert expected in info.value.message
    assert info.value.hint
    assert "s3cret" not in str(info.value)


def test_mask_credentials() -> None:
    assert mask_credentials("rtsp://u:p@cam:554/a?b=1") == "rtsp://u:***@cam:554/a?b=1"
    assert mask_credentials("http://cam/a") == "http://cam/a"


# --- image folders -------------------------------------------------------------------------------


@pytest.fixture
def face_folder(shared_faces: Path, tmp_path: Path) -> Path:
    """Three real face photos (jpg, png, webp) plus a corrupt jpg and a non-image file."""
    folder = tmp_path / "replay"
    folder.mkdir()
    photos = sorted((shared_faces / "identities" / "person01").glob("*.jpg"))[:3]
    (folder / "01.jpg").write_bytes(photos[0].read_bytes())
    cv2.imwrite(str(folder / "02_broken.JPG"), cv2.imread(str(photos[0])))
    (folder / "02_broken.JPG").write_bytes(b"\xff\xd8\xff\xe0 truncated garbage")
    cv2.imwrite(str(folder / "03.png"), cv2.imread(str(photos[1])))
    cv2.imwrite(str(folder / "04.webp"), cv2.imread(str(photos[2])))
    (folder / "notes.txt").write_text("not a frame")
    return folder


def test_image_folder_replays_in_name_order_skipping_corrupt_files(
    face_folder: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="lockers.vision.camera")
    expected = [
        cv2.cvtColor(cv2.imread(str(face_folder / name)), cv2.COLOR_BGR2RGB)
        for name in ("01.jpg", "03.png")
    ]
    config = CameraConfig(source=str(face_folder), loop=False)
    with open_source(config, resize=False) as source:
        assert isinstance(source, ImageFolderSource)
        frames = _read_all(source)
        assert source.skipped == {face_folder / "02_broken.JPG"}
    assert [f.index for f in frames] == [0, 1, 2]
    np.testing.assert_array_equal(frames[0].image, expected[0])
    np.testing.assert_array_equal(frames[1].image, expected[1])
    assert frames[2].image.shape[2] == 3
    warnings = [r for r in caplog.records if "02_broken.JPG" in r.getMessage()]
    assert len(warnings) == 1


def test_looping_image_folder_warns_once_per_bad_file(
    face_folder: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="lockers.vision.camera")
    with open_source(CameraConfig(source=str(face_folder), loop=True)) as source:
        frames = [source.read() for _ in range(7)]
    assert [f.index for f in frames if f] == list(range(7))
    assert all(f is not None and f.image.shape == (480, 640, 3) for f in frames)
    assert frames[3] is not None and frames[0] is not None
    np.testing.assert_array_equal(frames[3].image, frames[0].image)  # 3 good images, then again
    assert sum("02_broken.JPG" in r.getMessage() for r in caplog.records) == 1


@pytest.mark.parametrize("loop", [True, False])
def test_folder_without_a_readable_image_is_an_error(tmp_path: Path, loop: bool) -> None:
    (tmp_path / "a.jpg").write_bytes(b"garbage")
    (tmp_path / "b.png").write_bytes(b"")
    with pytest.raises(CameraError, match="none of the 2 images"):
        open_source(CameraConfig(source=str(tmp_path), loop=loop))


def test_folder_without_images_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "readme.txt").write_text("x")
    with pytest.raises(CameraError, match="contains no images") as info:
        open_source(CameraConfig(source=str(tmp_path)))
    assert ".jpg" in info.value.hint


# --- pacing, closing, stopping -------------------------------------------------------------------


class _ScriptedTime:
    """A clock that moves only when the pacer waits (or the test says so): no real sleeping."""

    def __init__(self) -> None:
        self.now = 100.0
        self.waits: list[float] = []

    def clock(self) -> float:
        return self.now

    def wait(self, delay_s: float) -> bool:
        self.waits.append(round(delay_s, 9))
        self.now += delay_s
        return False  # not interrupted


def test_pacer_keeps_a_steady_rhythm_and_restarts_it_after_a_stall() -> None:
    time_ = _ScriptedTime()
    pacer = Pacer(0.025, time_.wait, time_.clock)
    assert pacer.wait_for_slot() and time_.waits == []  # the first frame is due at once
    for _ in range(3):
        assert pacer.wait_for_slot()
    assert time_.waits == [0.025] * 3
    time_.now += 0.010  # decoding took 10 ms: only the rest of the period is waited
    assert pacer.wait_for_slot() and time_.waits[-1] == 0.015
    time_.now += 1.0  # a stall: start a new rhythm rather than burst to catch up
    waits = len(time_.waits)
    assert pacer.wait_for_slot() and len(time_.waits) == waits
    assert pacer.wait_for_slot() and time_.waits[-1] == 0.025


def test_an_interrupted_wait_gives_no_slot() -> None:
    now = [0.0]
    pacer = Pacer(0.5, lambda _delay: True, lambda: now[0])
    assert pacer.wait_for_slot()
    assert not pacer.wait_for_slot()


def test_realtime_replay_is_paced_to_fps_and_fast_replay_is_not(face_folder: Path) -> None:
    config = CameraConfig(source=str(face_folder), fps=40)
    with open_source(config, realtime=True, resize=False) as source:
        assert isinstance(source, ImageFolderSource) and source.period_s == 0.025
        stamps = [f.timestamp for f in (source.read() for _ in range(5)) if f]
    # A lower bound only: a loaded machine makes gaps longer, never shorter.
    gaps = np.diff(stamps)
    assert len(gaps) == 4 and gaps.min() >= 0.02  # 25 ms period, clock granularity allowed
    with open_source(config, realtime=False, resize=False) as source:
        assert isinstance(source, ImageFolderSource) and source.period_s is None
        assert len([source.read() for _ in range(5)]) == 5


def test_close_is_idempotent_and_read_after_close_returns_none(video: Path) -> None:
    source = open_source(CameraConfig(source=str(video)))
    assert source.read() is not None
    source.close()
    source.close()
    assert source.read() is None
    with source:
        pass  # exiting closes again, harmlessly


class _SignallingVideo(VideoFileSource):
    """The real replay, saying when a read starts waiting for its paced slot."""

    def __init__(self, path: Path, fps: float) -> None:
        super().__init__(path, fps=fps)
        self.waiting = threading.Event()

    def _wait_interruptibly(self, delay_s: float) -> bool:
        self.waiting.set()
        return super()._wait_interruptibly(delay_s)


def test_close_from_another_thread_ends_a_paced_read_promptly(video: Path) -> None:
    source = _SignallingVideo(video, fps=0.05)  # a frame every 20 s
    results: list[Frame | None] = []

    def work() -> None:
        results.append(source.read())
        results.append(source.read())  # waits 20 s for its slot unless closed

    worker = threading.Thread(target=work)
    worker.start()
    assert source.waiting.wait(timeout=10)  # the first frame arrived; the second read waits
    source.close()
    worker.join(timeout=10)  # far below the 20 s period: only close() can have ended it
    assert not worker.is_alive()
    assert results[0] is not None and results[1] is None


def test_opening_and_closing_sources_leaves_no_threads(video: Path, face_folder: Path) -> None:
    before = threading.active_count()
    for source_path in (video, face_folder):
        with open_source(CameraConfig(source=str(source_path))) as source:
            source.read()
    assert threading.active_count() == before


def test_importing_lockers_vision_does_not_load_opencv() -> None:
    code = "import sys, lockers.vision; assert 'cv2' not in sys.modules, 'cv2 loaded'"
    subprocess.run([sys.executable, "-c", code], check=True)


# --- back-off and reconnecting -------------------------------------------------------------------


def test_camera_that_cannot_be_opened_at_start_fails_at_once(tmp_path: Path) -> None:
    def opener() -> FrameSource:
        return VideoFileSource(tmp_path / "absent.avi")

    with pytest.raises(CameraError, match=r"absent\.avi"):
        ReconnectingSource(opener, name="cam", initial_s=0.01, max_s=0.02)


def test_lost_camera_is_reopened_with_exponential_backoff(video: Path, tmp_path: Path) -> None:
    """A real source that fails: a clip whose file disappears, then comes back."""
    clip = _short_clip(video, tmp_path / "clip.avi", frames=3)
    content = clip.read_bytes()
    opened_at: list[float] = []

    def opener() -> FrameSource:
        opened_at.append(time.monotonic())
        return VideoFileSource(clip, loop=False)  # its end stands for the camera going away

    source = ReconnectingSource(opener, name="door camera", initial_s=0.02, max_s=0.08)
    with source:
        assert [f.index for f in (source.read() for _ in range(3)) if f] == [0, 1, 2]
        clip.unlink()
        offline: list[CameraOffline] = []
        for _ in range(5):
            with pytest.raises(CameraOffline) as info:
                source.read()
            offline.append(info.value)
            assert not source.online
        assert [e.retry_in_s for e in offline] == [0.02, 0.04, 0.08, 0.08, 0.08]
        assert [e.attempts for e in offline] == [0, 1, 2, 3, 4]
        assert "door camera" in offline[0].message and "retrying in" in offline[0].message
        assert "does not exist" in offline[1].cause.message
        # Each reopen attempt waited its delay after the previous failure.
        gaps = np.diff(opened_at[1:])
        assert all(
            gap >= delay - 0.005 for gap, delay in zip(gaps, [0.04, 0.08, 0.08], strict=False)
        )

        clip.write_bytes(content)
        frame = source.read()
        assert frame is not None and frame.index == 3 and frame.source == "door camera"
        assert source.online
        for _ in range(2):
            assert source.read() is not None
        with pytest.raises(CameraOffline) as info:  # lost again: back-off starts afresh
            source.read()
        assert info.value.retry_in_s == 0.02


class _SignallingReconnect(ReconnectingSource):
    """The real reconnecting source, saying when a read starts waiting out its back-off."""

    def __init__(self, opener: Callable[[], FrameSource], **kwargs: float | str) -> None:
        self.waiting = threading.Event()
        super().__init__(opener, **kwargs)  # type: ignore[arg-type]

    def _wait_interruptibly(self, delay_s: float) -> bool:
        self.waiting.set()
        return super()._wait_interruptibly(delay_s)


def test_worker_thread_stops_promptly_while_waiting_to_reconnect(
    video: Path, tmp_path: Path
) -> None:
    clip = _short_clip(video, tmp_path / "clip.avi", frames=1)

    def opener() -> FrameSource:
        return VideoFileSource(clip, loop=False)

    source = _SignallingReconnect(opener, name="cam", initial_s=30.0, max_s=60.0)
    offline_seen = threading.Event()
    frames: list[Frame] = []

    def work() -> None:
        while True:
            try:
                frame = source.read()
            except CameraOffline:
                offline_seen.set()
                continue
            if frame is None:
                return
            frames.append(frame)

    worker = threading.Thread(target=work)
    worker.start()
    assert offline_seen.wait(timeout=10)
    assert source.waiting.wait(timeout=10)  # inside read(), waiting out the 30 s back-off
    source.interrupt()
    worker.join(timeout=10)  # far below the back-off: only interrupt() can have ended it
    assert not worker.is_alive()
    assert len(frames) == 1
    source.close()
    source.close()


@pytest.fixture
def http_dir(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A real HTTP server on 127.0.0.1 serving a folder; yields the folder and its base URL."""
    folder = tmp_path / "www"
    folder.mkdir()

    class QuietHandler(SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(folder))
    )
    thread = threading.Thread(target=server.serve_forever, name="test-http")
    thread.start()
    try:
        yield folder, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        thread.join()
        server.server_close()


def test_http_stream_that_drops_is_reconnected(
    video: Path, http_dir: tuple[Path, str], caplog: pytest.LogCaptureFixture
) -> None:
    """The live path end to end: open_source on a URL, the stream ends (camera gone), the URL
    vanishes (404) and returns, frames resume with continuing indices."""
    caplog.set_level(logging.INFO, logger="lockers.vision.camera")
    folder, base = http_dir
    clip = _short_clip(video, folder / "cam.avi", frames=3)
    config = CameraConfig(
        source=f"{base}/cam.avi", reconnect_initial_s=0.01, reconnect_max_s=0.05, loop=False
    )
    with open_source(config, stream_timeout_s=2.0) as source:
        first = [source.read() for _ in range(3)]
        assert [f.image.shape for f in first if f] == [(480, 640, 3)] * 3
        with pytest.raises(CameraOffline, match="stopped delivering frames"):
            source.read()
        content = clip.read_bytes()
        clip.unlink()
        with pytest.raises(CameraOffline, match="cannot be opened") as info:
            source.read()
        assert info.value.attempts == 1
        clip.write_bytes(content)
        frame = source.read()
        assert frame is not None and frame.index == 3 and frame.source == f"{base}/cam.avi"
    assert any("lost" in r.getMessage() for r in caplog.records)
    assert any("is back" in r.getMessage() for r in caplog.records)
