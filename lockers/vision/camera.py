"""Camera sources: live cameras (device index, device path, RTSP/HTTP URL) and replays (a video
file or a folder of images), all delivering RGB frames through one synchronous interface.

``FrameSource.read()`` returns a :class:`Frame`, or ``None`` when there will be no more frames (a
replay ended with ``loop=False``, or the source was interrupted or closed). It knows no Qt and
starts no threads: a worker thread calls ``read()`` in a loop and another thread may call
``interrupt()`` or ``close()`` to make that loop end promptly.

Frames are letterboxed to the configured size (aspect ratio kept, black bars, nothing cropped)
because squeezing a 16:9 picture into 4:3 would distort faces and hurt recognition;
``Frame.content_box`` says where the picture lies so a "face inside the frame" check can ignore
the bars.

A live camera that stops delivering is reopened with exponential back-off by
:class:`ReconnectingSource`, whose ``read()`` raises :class:`CameraOffline` (a ``CameraError``)
while the camera is away, so the UI can say "camera offline, retrying".
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
import sys
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Self
from urllib.parse import urlsplit, urlunsplit

import cv2
import numpy as np
import numpy.typing as npt

from lockers.config import CameraConfig
from lockers.errors import CameraError

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp"})
STREAM_SCHEMES = frozenset({"rtsp", "rtsps", "rtmp", "http", "https"})
DEFAULT_STREAM_TIMEOUT_S = 5.0

BoxXYWH = tuple[int, int, int, int]


@dataclass(frozen=True, eq=False)
class Frame:
    """One picture from a source.

    Attributes:
        image: RGB (not BGR) ``uint8`` array of shape ``(height, width, 3)``, C-contiguous. Treat
            it as read-only: copy before drawing on it.
        timestamp: ``time.monotonic()`` seconds when the frame was captured (for replays: when it
            was delivered).
        index: 0-based count of frames delivered by the source; keeps increasing across loops of a
            replay and across reconnects of a live camera.
        source: the source's display name (credentials in URLs are masked).
        content_box: ``(x, y, width, height)`` in pixels of the picture inside ``image``; smaller
            than the image when letterbox bars were added, ``None`` when the picture fills it.

    Raises:
        ValueError: ``image`` is not a C-contiguous ``uint8`` array of shape ``(h, w, 3)``.
    """

    image: npt.NDArray[np.uint8]
    timestamp: float
    index: int
    source: str
    content_box: BoxXYWH | None = None

    def __post_init__(self) -> None:
        image = self.image
        if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3:
            shape = getattr(image, "shape", type(image).__name__)
            raise ValueError(f"Frame.image must have shape (h, w, 3), got {shape}")
        if image.dtype != np.uint8:
            raise ValueError(f"Frame.image must be uint8, got {image.dtype}")
        if not image.flags.c_contiguous:
            raise ValueError("Frame.image must be C-contiguous")

    @property
    def height(self) -> int:
        return int(self.image.shape[0])

    @property
    def width(self) -> int:
        return int(self.image.shape[1])


class CameraOffline(CameraError):
    """A live camera stopped delivering frames; it is being reopened in the background of
    ``read()`` calls.

    Attributes:
        source: the camera's display name.
        retry_in_s: seconds until the next reopen attempt (the next ``read()`` waits that long).
        attempts: failed reopen attempts since the camera was lost (0 right after the loss).
        cause: the error that made the camera go or stay offline.
    """

    def __init__(self, source: str, retry_in_s: float, attempts: int, cause: CameraError) -> None:
        super().__init__(
            f"camera {source} is offline ({cause.message}); retrying in {retry_in_s:.3g} s",
            cause.hint or "check the camera's cable and power",
        )
        self.source = source
        self.retry_in_s = retry_in_s
        self.attempts = attempts
        self.cause = cause


class FrameSource(ABC):
    """Where frames come from. Synchronous; a context manager; ``close()`` is idempotent.

    ``read()`` is called from one thread at a time. ``interrupt()`` and ``close()`` may be called
    from any thread: after either, a blocked or later ``read()`` returns ``None`` promptly (within
    one frame grab; a blocking grab of a live camera cannot be cut short).
    """

    @property
    @abstractmethod
    def name(self) -> str:
        """Display name: a path, ``camera 0``, or a URL with its password masked."""

    @abstractmethod
    def read(self) -> Frame | None:
        """The next frame, or ``None`` when there are no more (end of replay, interrupted, closed).

        Raises:
            CameraError: the source failed (``CameraOffline`` while a live camera is reconnecting).
        """

    @abstractmethod
    def interrupt(self) -> None:
        """Make the current and every later ``read()`` return ``None`` promptly. Thread-safe."""

    @abstractmethod
    def close(self) -> None:
        """Interrupt and release the device or file. Safe to call twice and from another thread."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class _CaptureSource(FrameSource):
    """Template for concrete sources: subclasses only grab raw OpenCV images (BGR, grey or BGRA);
    this class owns colour conversion, letterboxing, pacing, frame counting and closing."""

    def __init__(self, name: str, *, size: tuple[int, int] | None, fps: float | None) -> None:
        self._name = name
        self._size = size
        self._period_s = 1.0 / fps if fps else None
        self._due: float | None = None
        self._index = 0
        self._stop = threading.Event()
        self._lock = threading.Lock()  # read() vs close() from another thread
        self._closed = False

    @property
    def name(self) -> str:
        return self._name

    @abstractmethod
    def _grab(self) -> npt.NDArray[np.uint8] | None:
        """The next raw image as OpenCV decodes it, or ``None`` at the end of a replay."""

    @abstractmethod
    def _release(self) -> None:
        """Free the underlying capture; called once."""

    def read(self) -> Frame | None:
        if self._stop.is_set():
            return None
        with self._lock:
            if self._closed or self._stop.is_set():
                return None
            raw = self._grab()
            if raw is None or not self._wait_for_slot():
                return None
            timestamp = time.monotonic()
            image, content_box = to_rgb(raw, self._size)
            frame = Frame(image, timestamp, self._index, self._name, content_box)
            self._index += 1
            return frame

    def _wait_for_slot(self) -> bool:
        """Pace a replay to the camera's frame rate; False when interrupted while waiting."""
        if self._period_s is None:
            return True
        if self._due is not None:
            delay = self._due - time.monotonic()
            if delay > 0 and self._stop.wait(delay):
                return False
        now = time.monotonic()
        # Keep a steady rhythm, but after a stall restart it rather than burst to catch up.
        start = now if self._due is None or now - self._due >= self._period_s else self._due
        self._due = start + self._period_s
        return True

    def interrupt(self) -> None:
        self._stop.set()

    def close(self) -> None:
        self._stop.set()
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._release()


def to_rgb(
    image: npt.NDArray[np.uint8], size: tuple[int, int] | None
) -> tuple[npt.NDArray[np.uint8], BoxXYWH | None]:
    """Convert an OpenCV image (BGR ``(h, w, 3)``, grey ``(h, w)`` or BGRA ``(h, w, 4)``) to RGB,
    letterboxed to ``size = (width, height)`` when given.

    Returns the C-contiguous RGB ``uint8`` image and the ``(x, y, w, h)`` box of the picture
    inside it (``None`` when it fills the image).
    """
    if image.ndim == 2:
        code = cv2.COLOR_GRAY2RGB
    elif image.shape[2] == 4:
        code = cv2.COLOR_BGRA2RGB
    else:
        code = cv2.COLOR_BGR2RGB
    src_h, src_w = image.shape[:2]
    if size is None or size == (src_w, src_h):
        return np.ascontiguousarray(cv2.cvtColor(image, code)), None
    width, height = size
    scale = min(width / src_w, height / src_h)
    fit_w = min(width, max(1, round(src_w * scale)))
    fit_h = min(height, max(1, round(src_h * scale)))
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    fitted = cv2.resize(image, (fit_w, fit_h), interpolation=interpolation)
    if (fit_w, fit_h) == (width, height):
        return np.ascontiguousarray(cv2.cvtColor(fitted, code)), None
    canvas = np.zeros((height, width, 3), dtype=np.uint8)
    x0, y0 = (width - fit_w) // 2, (height - fit_h) // 2
    canvas[y0 : y0 + fit_h, x0 : x0 + fit_w] = cv2.cvtColor(fitted, code)
    return canvas, (x0, y0, fit_w, fit_h)


# --- replays -------------------------------------------------------------------------------------


def _check_readable_file(path: Path, what: str) -> None:
    if not path.exists():
        raise CameraError(
            f"{what} {path} does not exist",
            "check camera.source and that the file is where it says",
        )
    if not os.access(path, os.R_OK):
        raise CameraError(
            f"{what} {path} cannot be read (permission denied)",
            "give the kiosk user read access to it",
        )


class VideoFileSource(_CaptureSource):
    """Replays a video file OpenCV's FFmpeg can decode, once or looped.

    ``size=(width, height)`` letterboxes every frame; ``fps`` paces delivery to that rate (``None``
    reads as fast as decoding allows).

    Raises:
        CameraError: the file is missing, unreadable, not a video, or has no decodable frame.
    """

    def __init__(
        self,
        path: Path,
        *,
        loop: bool = True,
        size: tuple[int, int] | None = None,
        fps: float | None = None,
    ) -> None:
        super().__init__(str(path), size=size, fps=fps)
        self._path = path
        self._loop = loop
        _check_readable_file(path, "video file")
        self._capture = self._open()
        ok, first = self._capture.read()
        if not ok:
            self._capture.release()
            raise CameraError(
                f"video file {path} has no frame OpenCV can decode",
                "re-encode it (e.g. ffmpeg -i IN -c:v libx264 OUT.mp4) or use a folder of images",
            )
        self._pending: npt.NDArray[np.uint8] | None = first

    def _open(self) -> cv2.VideoCapture:
        capture = cv2.VideoCapture(str(self._path), cv2.CAP_FFMPEG)
        if not capture.isOpened():
            capture.release()
            _check_readable_file(self._path, "video file")  # vanished while looping
            raise CameraError(
                f"{self._path} is not a video OpenCV can read",
                "use a video file (mp4, avi, mkv, ...), a folder of images, a camera index "
                "such as 0, a device path or an rtsp:// URL",
            )
        return capture

    def _grab(self) -> npt.NDArray[np.uint8] | None:
        if self._pending is not None:
            image, self._pending = self._pending, None
            return image
        ok, image = self._capture.read()
        if ok:
            return image
        if not self._loop:
            return None
        # Reopening is more dependable than seeking to frame 0, which some codecs do inexactly.
        self._capture.release()
        self._capture = self._open()
        ok, image = self._capture.read()
        if not ok:
            raise CameraError(f"video file {self._path} stopped yielding frames when looping")
        return image

    def _release(self) -> None:
        self._capture.release()


class ImageFolderSource(_CaptureSource):
    """Replays the images of a folder (jpg, jpeg, png, bmp, webp; any case) in name order
    (plain string order: zero-pad numbers), once or looped.

    Unreadable or undecodable files are skipped with one logged warning each.

    Raises:
        CameraError: the folder is missing or has no readable image; also from ``read()`` if every
            image became unreadable while looping.
    """

    def __init__(
        self,
        folder: Path,
        *,
        loop: bool = True,
        size: tuple[int, int] | None = None,
        fps: float | None = None,
    ) -> None:
        super().__init__(str(folder), size=size, fps=fps)
        self._folder = folder
        self._loop = loop
        kinds = ", ".join(sorted(IMAGE_SUFFIXES))
        hint = f"put {kinds} files in {folder} or point camera.source elsewhere"
        try:
            self._paths = sorted(
                (p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()),
                key=lambda p: p.name,
            )
        except OSError as exc:
            raise CameraError(f"image folder {folder} cannot be listed: {exc.strerror}") from exc
        if not self._paths:
            raise CameraError(f"image folder {folder} contains no images", hint)
        self._position = 0
        self._skipped: set[Path] = set()
        try:
            first = self._next_image()
        except CameraError:
            first = None
        if first is None:
            raise CameraError(
                f"none of the {len(self._paths)} images in {folder} could be read", hint
            )
        self._pending: npt.NDArray[np.uint8] | None = first

    @property
    def skipped(self) -> frozenset[Path]:
        """Files skipped so far because they could not be read or decoded."""
        return frozenset(self._skipped)

    def _next_image(self) -> npt.NDArray[np.uint8] | None:
        for _ in range(len(self._paths)):  # at most one full pass per frame
            if self._position == len(self._paths):
                if not self._loop:
                    return None
                self._position = 0
            path = self._paths[self._position]
            self._position += 1
            if path not in self._skipped:
                image = self._decode(path)
                if image is not None:
                    return image
        if self._position == len(self._paths) and not self._loop:
            return None
        raise CameraError(f"no image in {self._folder} can be read any more")

    def _decode(self, path: Path) -> npt.NDArray[np.uint8] | None:
        try:
            data = np.fromfile(path, dtype=np.uint8)
        except OSError as exc:
            reason = exc.strerror or str(exc)
        else:
            image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
            if image is not None:
                return image
            reason = "not a decodable image"
        log.warning("skipping %s: %s", path, reason)
        self._skipped.add(path)
        return None

    def _grab(self) -> npt.NDArray[np.uint8] | None:
        if self._pending is not None:
            image, self._pending = self._pending, None
            return image
        return self._next_image()

    def _release(self) -> None:
        self._pending = None


# --- live cameras --------------------------------------------------------------------------------


def mask_credentials(url: str) -> str:
    """``rtsp://user:secret@host/x`` → ``rtsp://user:***@host/x``, so logs never hold passwords."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urlunsplit(parts._replace(netloc=f"{parts.username}:***@{host}"))


def _display_name(target: int | str) -> str:
    return f"camera {target}" if isinstance(target, int) else mask_credentials(target)


def _device_problem(device: Path, label: str = "") -> CameraError:
    """The most likely reason a local camera cannot be opened, with what to check."""
    label = label or str(device)
    listing = "list the cameras with `v4l2-ctl --list-devices` or `ls /dev/video*`"
    if not device.exists():
        return CameraError(
            f"camera {label} is not present",
            f"plug the camera in or fix camera.source; {listing}",
        )
    if not os.access(device, os.R_OK | os.W_OK):
        return CameraError(
            f"no permission to open camera {label}",
            "add the kiosk user to the `video` group (sudo usermod -aG video USER) and log in "
            "again",
        )
    return CameraError(
        f"camera {label} cannot be opened or gives no picture",
        f"another program may be using it (check with `fuser {device}`), or it is not a capture "
        f"node (a camera often also has a metadata node); {listing}",
    )


class LiveCameraSource(_CaptureSource):
    """A camera opened once: an OpenCV device index, a device path or an RTSP/HTTP URL.

    Local cameras are asked for ``request_size = (width, height)`` and ``request_fps``; whatever
    they deliver is letterboxed to ``size``. A stream that cannot be reached gives up after
    ``stream_timeout_s`` (open and each read). Wrap it in :class:`ReconnectingSource` to survive
    the camera going away.

    Raises:
        CameraError: the camera cannot be opened or gives no first frame (naming it and the
            likely fix); from ``read()``: the camera stopped delivering frames.
    """

    def __init__(
        self,
        target: int | str,
        *,
        size: tuple[int, int] | None = None,
        request_size: tuple[int, int] | None = None,
        request_fps: float | None = None,
        stream_timeout_s: float = DEFAULT_STREAM_TIMEOUT_S,
    ) -> None:
        is_stream = isinstance(target, str) and "://" in target
        name = _display_name(target)
        super().__init__(name, size=size, fps=None)  # a live camera paces itself
        self._capture = self._open(target, is_stream, request_size, request_fps, stream_timeout_s)
        ok, first = self._capture.read()
        if not ok:
            self._capture.release()
            raise self._open_problem(target, is_stream)
        self._pending: npt.NDArray[np.uint8] | None = first

    def _open(
        self,
        target: int | str,
        is_stream: bool,
        request_size: tuple[int, int] | None,
        request_fps: float | None,
        stream_timeout_s: float,
    ) -> cv2.VideoCapture:
        if is_stream:
            timeout_ms = round(stream_timeout_s * 1000)
            params = [
                cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, timeout_ms,
                cv2.CAP_PROP_READ_TIMEOUT_MSEC, timeout_ms,
            ]  # fmt: skip
            capture = cv2.VideoCapture(str(target), cv2.CAP_FFMPEG, params)
        else:
            # By name, only the V4L2 back-end opens a Linux device node.
            api = cv2.CAP_V4L2 if sys.platform.startswith("linux") else cv2.CAP_ANY
            capture = cv2.VideoCapture(target, api)
        if not capture.isOpened():
            capture.release()
            raise self._open_problem(target, is_stream)
        if not is_stream:
            if request_size is not None:
                capture.set(cv2.CAP_PROP_FRAME_WIDTH, request_size[0])
                capture.set(cv2.CAP_PROP_FRAME_HEIGHT, request_size[1])
            if request_fps is not None:
                capture.set(cv2.CAP_PROP_FPS, request_fps)
            # One buffered frame: the kiosk wants the newest picture, not a queue of old ones.
            capture.set(cv2.CAP_PROP_BUFFERSIZE, 1)
        return capture

    def _open_problem(self, target: int | str, is_stream: bool) -> CameraError:
        if is_stream:
            return CameraError(
                f"camera stream {self.name} cannot be opened",
                "check the URL (scheme, host, port, path), the user name and password, that the "
                "camera is powered and reachable from this machine (ping it), and that no "
                "firewall blocks the port",
            )
        if isinstance(target, int):
            if sys.platform.startswith("linux"):
                return _device_problem(
                    Path(f"/dev/video{target}"), f"{target} (/dev/video{target})"
                )
            return CameraError(
                f"camera {target} cannot be opened",
                "check that it is connected and not used by another program",
            )
        return _device_problem(Path(target))

    def _grab(self) -> npt.NDArray[np.uint8] | None:
        if self._pending is not None:
            image, self._pending = self._pending, None
            return image
        ok, image = self._capture.read()
        if not ok:
            if self._stop.is_set():
                return None
            raise CameraError(f"camera {self.name} stopped delivering frames")
        return image

    def _release(self) -> None:
        self._capture.release()


# --- reconnecting --------------------------------------------------------------------------------


class Backoff:
    """Exponential delays: ``initial_s``, then doubling, capped at ``max_s``; ``reset()`` after a
    success.

    Raises:
        ValueError: ``initial_s`` is not positive or ``max_s`` is below it.
    """

    def __init__(self, initial_s: float, max_s: float) -> None:
        if initial_s <= 0 or max_s < initial_s:
            raise ValueError(f"need 0 < initial_s <= max_s, got {initial_s} and {max_s}")
        self.initial_s = initial_s
        self.max_s = max_s
        self._next_s = initial_s
        self.failures = 0

    def next_delay(self) -> float:
        """Seconds to wait before the next attempt; each call doubles the following one."""
        delay = self._next_s
        self._next_s = min(self._next_s * 2, self.max_s)
        self.failures += 1
        return delay

    def reset(self) -> None:
        self._next_s = self.initial_s
        self.failures = 0


class ReconnectingSource(FrameSource):
    """Keeps a live camera going: when it fails, ``read()`` raises :class:`CameraOffline` and the
    following calls reopen it with exponential back-off until frames flow again.

    ``opener`` makes a fresh inner source (it raises ``CameraError`` when the camera is still
    away); it is called once here, so a camera that cannot be opened at all fails at once. Each
    ``read()`` blocks for at most one back-off delay (``<= max_s``) plus one open attempt, and
    returns ``None`` at once when interrupted or closed. Frames keep one increasing ``index``
    across reconnects.

    Raises:
        CameraError: from the first ``opener()`` call.
    """

    def __init__(
        self,
        opener: Callable[[], FrameSource],
        *,
        name: str,
        initial_s: float,
        max_s: float,
    ) -> None:
        self._opener = opener
        self._name = name
        self._backoff = Backoff(initial_s, max_s)
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._closed = False
        self._index = 0
        self._retry_at = 0.0
        self._inner: FrameSource | None = opener()

    @property
    def name(self) -> str:
        return self._name

    @property
    def online(self) -> bool:
        """Whether the camera is open (it may still fail on the next read)."""
        return self._inner is not None

    def read(self) -> Frame | None:
        if self._stop.is_set():
            return None
        with self._lock:
            if self._closed or self._stop.is_set():
                return None
            if self._inner is None:
                delay = self._retry_at - time.monotonic()
                if delay > 0 and self._stop.wait(delay):
                    return None
                try:
                    self._inner = self._opener()
                except CameraError as exc:
                    raise self._offline(exc) from exc
                log.info(
                    "camera %s is back after %d attempt(s)", self._name, self._backoff.failures
                )
            cause: CameraError | None = None
            try:
                frame = self._inner.read()
            except CameraError as exc:
                frame, cause = None, exc
            if frame is None:
                if self._stop.is_set():
                    return None
                self._drop_inner()
                cause = cause or CameraError(f"camera {self._name} stopped delivering frames")
                log.warning("camera %s lost: %s", self._name, cause.message)
                raise self._offline(cause, lost=True)
            self._backoff.reset()
            frame = dataclasses.replace(frame, index=self._index, source=self._name)
            self._index += 1
            return frame

    def _offline(self, cause: CameraError, *, lost: bool = False) -> CameraOffline:
        attempts = 0 if lost else self._backoff.failures  # the loss itself counted as one
        delay = self._backoff.next_delay()
        self._retry_at = time.monotonic() + delay
        if not lost:
            log.info(
                "camera %s still offline (attempt %d): %s", self._name, attempts, cause.message
            )
        return CameraOffline(self._name, delay, attempts, cause)

    def _drop_inner(self) -> None:
        inner, self._inner = self._inner, None
        if inner is not None:
            try:
                inner.close()
            except CameraError as exc:  # a half-dead device may complain; it is gone either way
                log.debug("closing lost camera %s: %s", self._name, exc)

    def interrupt(self) -> None:
        self._stop.set()
        inner = self._inner
        if inner is not None:
            inner.interrupt()

    def close(self) -> None:
        self.interrupt()
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._drop_inner()


# --- choosing a source from config ---------------------------------------------------------------

_DEVICE_INDEX = re.compile(r"^\d+$")


def open_source(
    camera: CameraConfig,
    *,
    realtime: bool = False,
    resize: bool = True,
    stream_timeout_s: float = DEFAULT_STREAM_TIMEOUT_S,
    base_dir: Path | None = None,
) -> FrameSource:
    """Open the source that ``camera.source`` names.

    - ``"0"``, ``"1"``, ...: an OpenCV device index; ``/dev/...``: a device path; ``rtsp://``,
      ``rtsps://``, ``rtmp://``, ``http(s)://``: a network stream. These are live cameras, asked
      for ``camera.width x camera.height`` at ``camera.fps`` and reopened with back-off between
      ``camera.reconnect_initial_s`` and ``camera.reconnect_max_s`` when they fail.
    - a folder: its images replayed in name order; any other path: a video file. Replays loop when
      ``camera.loop``; with ``realtime`` they are paced to ``camera.fps`` (a demo), otherwise read
      as fast as decoding allows (benchmarks, tests).

    With ``resize`` every frame is letterboxed to ``camera.width x camera.height``.
    ``stream_timeout_s`` bounds how long a network stream may take to open or to deliver a frame.
    A relative file or folder path is taken relative to ``base_dir`` (the config file's folder,
    say) when given, else to the working directory.

    Raises:
        CameraError: the source cannot be opened; the message names it and what to check.
    """
    source = camera.source.strip()
    size = (camera.width, camera.height) if resize else None
    if not source:
        raise CameraError("camera.source is empty", "set it to 0, /dev/video0, a URL or a path")
    scheme = source.split("://", 1)[0].lower() if "://" in source else ""
    if scheme and scheme not in STREAM_SCHEMES:
        raise CameraError(
            f"camera.source {mask_credentials(source)} uses an unsupported scheme {scheme}://",
            f"use one of {', '.join(sorted(STREAM_SCHEMES))}, a device or a file path",
        )
    if scheme or _DEVICE_INDEX.match(source) or source.startswith("/dev/"):
        target: int | str = int(source) if _DEVICE_INDEX.match(source) else source

        def opener() -> FrameSource:
            return LiveCameraSource(
                target,
                size=size,
                request_size=(camera.width, camera.height),
                request_fps=camera.fps,
                stream_timeout_s=stream_timeout_s,
            )

        return ReconnectingSource(
            opener,
            name=_display_name(target),
            initial_s=camera.reconnect_initial_s,
            max_s=camera.reconnect_max_s,
        )
    path = Path(source).expanduser()
    if base_dir is not None and not path.is_absolute():
        path = base_dir / path
    fps = camera.fps if realtime else None
    if path.is_dir():
        return ImageFolderSource(path, loop=camera.loop, size=size, fps=fps)
    return VideoFileSource(path, loop=camera.loop, size=size, fps=fps)
