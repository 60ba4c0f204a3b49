"""Reading still images from disk as RGB arrays, with clear errors for bad files."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import numpy.typing as npt

from lockers.errors import ImageError

_JPEG_SOI = b"\xff\xd8"
_JPEG_EOI = b"\xff\xd9"
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_PNG_IEND = b"IEND\xaeB`\x82"


def load_image(path: str | os.PathLike[str]) -> npt.NDArray[np.uint8]:
    """Decode an image file into an RGB uint8 array of shape ``(H, W, 3)``.

    Truncated JPEG/PNG files are refused rather than decoded half grey: OpenCV would otherwise
    return the partial picture with only a warning on stderr.

    Raises:
        ImageError: the file is missing, unreadable, truncated or not an image.
    """
    import cv2

    file = Path(path)
    try:
        data = file.read_bytes()
    except FileNotFoundError:
        raise ImageError(f"image {file} does not exist", hint="check the path") from None
    except OSError as exc:
        raise ImageError(f"cannot read image {file}: {exc.strerror}") from None
    if not data:
        raise ImageError(f"image {file} is empty (0 bytes)", hint="copy the file again")
    head, tail = data[:8], data[-12:].rstrip(b"\x00")
    if (data.startswith(_JPEG_SOI) and not tail.endswith(_JPEG_EOI)) or (
        head == _PNG_MAGIC and not tail.endswith(_PNG_IEND)
    ):
        raise ImageError(
            f"image {file} is truncated ({len(data)} bytes, the end of the image is missing)",
            hint="copy or download the file again",
        )
    decoded = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR)
    if decoded is None:
        raise ImageError(
            f"image {file} could not be decoded: corrupt or not an image",
            hint="use a JPEG, PNG, BMP or WebP file",
        )
    return np.ascontiguousarray(cv2.cvtColor(decoded, cv2.COLOR_BGR2RGB))


def check_rgb(image: npt.NDArray[np.uint8], what: str = "frame") -> None:
    """Raise ``ValueError`` unless ``image`` is an ``(H, W, 3)`` uint8 array."""
    if not isinstance(image, np.ndarray):
        raise ValueError(f"{what} must be a numpy array, got {type(image).__name__}")
    if image.dtype != np.uint8:
        raise ValueError(f"{what} must be uint8, got {image.dtype}")
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"{what} must have shape (H, W, 3) RGB, got {image.shape}")
