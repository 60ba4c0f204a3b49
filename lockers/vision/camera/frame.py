"""What every camera source delivers: :class:`Frame`, the :class:`FrameSource` interface, the
:class:`CameraOffline` error, and :class:`CaptureSource`, the template the concrete sources share
(colour conversion, letterboxing, pacing, counting, closing).

Frames are letterboxed to the configured size (aspect ratio kept, black bars, nothing cropped)
because squeezing a 16:9 picture into 4:3 would distort faces and hurt recognition;
``Frame.content_box`` says where the picture lies so a "face inside the frame" check can ignore
the bars.
"""

from __future__ import annotations

import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Self

import cv2
import numpy as np
import numpy.typing as npt

from lockers.errors import CameraError

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


class Pacer:
    """Spaces frames ``period_s`` apart: a replay shown at the camera's frame rate.

    ``wait(delay)`` sleeps up to ``delay`` seconds and returns True when it was interrupted
    (``threading.Event.wait`` fits); ``clock`` is a monotonic clock. Both are parameters so the
    rhythm can be checked without sleeping.
    """

    def __init__(
        self,
        period_s: float,
        wait: Callable[[float], bool],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.period_s = period_s
        self._wait = wait
        self._clock = clock
        self._due: float | None = None

    def wait_for_slot(self) -> bool:
        """Wait until the next frame is due; False when interrupted while waiting."""
        if self._due is not None:
            delay = self._due - self._clock()
            if delay > 0 and self._wait(delay):
                return False
        now = self._clock()
        # Keep a steady rhythm, but after a stall restart it rather than burst to catch up.
        start = now if self._due is None or now - self._due >= self.period_s else self._due
        self._due = start + self.period_s
        return True


class CaptureSource(FrameSource):
    """Template for concrete sources: subclasses only grab raw OpenCV images (BGR, grey or BGRA);
    this class owns colour conversion, letterboxing, pacing, frame counting and closing."""

    def __init__(self, name: str, *, size: tuple[int, int] | None, fps: float | None) -> None:
        self._name = name
        self._size = size
        self._index = 0
        self._stop = threading.Event()
        self._lock = threading.Lock()  # read() vs close() from another thread
        self._closed = False
        self._pacer = Pacer(1.0 / fps, self._wait_interruptibly) if fps else None

    @property
    def name(self) -> str:
        return self._name

    @property
    def period_s(self) -> float | None:
        """Seconds between paced frames; ``None`` when frames come as fast as they are read."""
        return None if self._pacer is None else self._pacer.period_s

    @abstractmethod
    def _grab(self) -> npt.NDArray[np.uint8] | None:
        """The next raw image as OpenCV decodes it, or ``None`` at the end of a replay."""

    @abstractmethod
    def _release(self) -> None:
        """Free the underlying capture; called once."""

    def _wait_interruptibly(self, delay_s: float) -> bool:
        """Sleep up to ``delay_s``; True when ``interrupt()`` or ``close()`` cut it short."""
        return self._stop.wait(delay_s)

    def read(self) -> Frame | None:
        if self._stop.is_set():
            return None
        with self._lock:
            if self._closed or self._stop.is_set():
                return None
            raw = self._grab()
            if raw is None or (self._pacer is not None and not self._pacer.wait_for_slot()):
                return None
            timestamp = time.monotonic()
            image, content_box = to_rgb(raw, self._size)
            frame = Frame(image, timestamp, self._index, self._name, content_box)
            self._index += 1
            return frame

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
