"""Live cameras opened once: an OpenCV device index, a device path or a network stream.
:mod:`lockers.vision.camera.reconnect` keeps one going when it fails."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import cv2
import numpy as np
import numpy.typing as npt

from lockers.config.vision import SourceKind, classify_source
from lockers.errors import CameraError
from lockers.vision.camera.frame import CaptureSource

DEFAULT_STREAM_TIMEOUT_S = 5.0


def mask_credentials(url: str) -> str:
    """``rtsp://user:secret@host/x`` → ``rtsp://user:***@host/x``, so logs never hold passwords."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urlunsplit(parts._replace(netloc=f"{parts.username}:***@{host}"))


def display_name(target: int | str) -> str:
    """How a camera is named in messages and logs (passwords masked)."""
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


class LiveCameraSource(CaptureSource):
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
        is_stream = isinstance(target, str) and classify_source(target) is SourceKind.STREAM
        name = display_name(target)
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
