"""Keeping a live camera going: reopen it with back-off while it is away."""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable

from lockers.backoff import Backoff, BackoffTimer
from lockers.errors import CameraError
from lockers.vision.camera.frame import CameraOffline, Frame, FrameSource

log = logging.getLogger(__name__)


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
        # camera.reconnect_initial_s / reconnect_max_s, doubling (the one back-off rule).
        self._backoff = BackoffTimer(Backoff(base_s=initial_s, max_s=max_s))
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
                if delay > 0 and self._wait_interruptibly(delay):
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

    def _wait_interruptibly(self, delay_s: float) -> bool:
        """Sleep up to ``delay_s``; True when ``interrupt()`` or ``close()`` cut it short."""
        return self._stop.wait(delay_s)

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
