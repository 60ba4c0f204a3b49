"""Replayed sources: a video file or a folder of images, once or looped, optionally paced to the
camera's frame rate (the demo) or read as fast as decoding allows (benchmarks, tests)."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from lockers.errors import CameraError
from lockers.vision.camera.frame import CaptureSource

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp"})


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


class VideoFileSource(CaptureSource):
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


class ImageFolderSource(CaptureSource):
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
