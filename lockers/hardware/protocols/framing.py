"""What the codecs share: the error for a bad frame and finding a frame in a noisy buffer."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from lockers.errors import BoardError

T = TypeVar("T")


class FrameError(BoardError):
    """Bytes that are not a valid frame: wrong length, start/end byte, or checksum."""


def hex_bytes(data: bytes | bytearray) -> str:
    """``b"\\xa0\\x01"`` -> ``"A0 01"`` (how docs/protocols.md and the logs write frames)."""
    return data.hex(" ").upper()


def scan(
    buffer: bytes | bytearray, decode_at: Callable[[bytes, int], T | None]
) -> tuple[T | None, str]:
    """Find the first valid frame in ``buffer``, skipping garbage before it.

    ``decode_at(buffer, start)`` returns a value, ``None`` when the frame starting there is not
    complete yet, or raises :class:`FrameError` when the bytes there are not a valid frame.

    Returns:
        ``(value, "")`` for the first valid frame, else ``(None, why)`` where ``why`` is the
        first problem seen ("" when nothing looked like a frame or it is still incomplete).
    """
    data = bytes(buffer)
    why = ""
    for start in range(len(data)):
        try:
            value = decode_at(data, start)
        except FrameError as exc:
            why = why or exc.message
            continue
        if value is not None:
            return value, ""
    return None, why
