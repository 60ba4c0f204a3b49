"""Camera sources: live cameras (device index, device path, RTSP/HTTP URL) and replays (a video
file or a folder of images), all delivering RGB frames through one synchronous interface.

``FrameSource.read()`` returns a :class:`Frame`, or ``None`` when there will be no more frames (a
replay ended with ``loop=False``, or the source was interrupted or closed). It knows no Qt and
starts no threads: a worker thread calls ``read()`` in a loop and another thread may call
``interrupt()`` or ``close()`` to make that loop end promptly.

The rooms: :mod:`~lockers.vision.camera.frame` (the frame, the interface, pacing and
letterboxing), :mod:`~lockers.vision.camera.replay` (video files, image folders),
:mod:`~lockers.vision.camera.live` (a camera opened once) and
:mod:`~lockers.vision.camera.reconnect` (a live camera that stops delivering is reopened with
back-off; its ``read()`` raises :class:`CameraOffline`, a ``CameraError``, while the camera is
away, so the UI can say "camera offline, retrying"). :func:`open_source` picks one from the
config; what ``camera.source`` names is decided by :func:`lockers.config.vision.classify_source`.
"""

from __future__ import annotations

from pathlib import Path

from lockers.config import CameraConfig
from lockers.config.vision import STREAM_SCHEMES, SourceKind, classify_source
from lockers.errors import CameraError
from lockers.vision.camera.frame import (
    BoxXYWH,
    CameraOffline,
    CaptureSource,
    Frame,
    FrameSource,
    Pacer,
    to_rgb,
)
from lockers.vision.camera.live import (
    DEFAULT_STREAM_TIMEOUT_S,
    LiveCameraSource,
    display_name,
    mask_credentials,
)
from lockers.vision.camera.reconnect import ReconnectingSource
from lockers.vision.camera.replay import IMAGE_SUFFIXES, ImageFolderSource, VideoFileSource

__all__ = [
    "DEFAULT_STREAM_TIMEOUT_S",
    "IMAGE_SUFFIXES",
    "STREAM_SCHEMES",
    "BoxXYWH",
    "CameraOffline",
    "CaptureSource",
    "Frame",
    "FrameSource",
    "ImageFolderSource",
    "LiveCameraSource",
    "Pacer",
    "ReconnectingSource",
    "VideoFileSource",
    "mask_credentials",
    "open_source",
    "to_rgb",
]


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
    kind = classify_source(source)
    if kind.is_live:
        return _live_source(camera, source, kind, size, stream_timeout_s)
    path = Path(source).expanduser()
    if base_dir is not None and not path.is_absolute():
        path = base_dir / path
    fps = camera.fps if realtime else None
    if path.is_dir():
        return ImageFolderSource(path, loop=camera.loop, size=size, fps=fps)
    return VideoFileSource(path, loop=camera.loop, size=size, fps=fps)


def _live_source(
    camera: CameraConfig,
    source: str,
    kind: SourceKind,
    size: tuple[int, int] | None,
    stream_timeout_s: float,
) -> ReconnectingSource:
    """A live camera behind :class:`ReconnectingSource`, with the config's back-off."""
    if kind is SourceKind.STREAM:
        scheme = source.split("://", 1)[0].lower()
        if scheme not in STREAM_SCHEMES:
            raise CameraError(
                f"camera.source {mask_credentials(source)} uses an unsupported scheme {scheme}://",
                f"use one of {', '.join(sorted(STREAM_SCHEMES))}, a device or a file path",
            )
    target: int | str = int(source) if kind is SourceKind.DEVICE_INDEX else source

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
        name=display_name(target),
        initial_s=camera.reconnect_initial_s,
        max_s=camera.reconnect_max_s,
    )
