"""The generic "0x8A/0x80" XOR lock board (Open-Locker's reference board).

See docs/protocols.md, "The 0x8A/0x80 XOR lock board".
9600 8N1; board address 1-31. Unlock ``8A BB LL 11 X``, answered after
0.5-1 s by ``8A BB LL SS X``. Query one lock ``80 BB LL 33 X``; query all ``80 BB 00 33 X``,
answered by ``80 BB S1..Sn 33 X`` whose length varies by board, so a reply ends on line silence.
X = XOR of every byte before it. Single-lock status ``00`` is read as open and ``11`` as closed;
the query-all bytes are taken as bitmaps, bit n-1 = lock n, bit set = closed. Both depend on the
feedback wiring: the driver's ``feedback_invert`` flips them.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import reduce

from lockers.hardware.protocols.framing import FrameError, hex_bytes

BAUDRATE = 9600
UNLOCK_HEADER = 0x8A
QUERY_HEADER = 0x80
UNLOCK_CODE = 0x11
QUERY_CODE = 0x33
STATUS_CLOSED = 0x11
STATUS_OPEN = 0x00
MAX_BOARD = 31


def xor(data: bytes) -> int:
    """XOR of every byte."""
    return reduce(lambda a, b: a ^ b, data, 0)


def _framed(body: bytes) -> bytes:
    return body + bytes([xor(body)])


def _check(board: int, lock: int) -> None:
    if not 1 <= board <= MAX_BOARD:
        raise ValueError(f"XOR board address must be 1-31, got {board}")
    if not 0 <= lock <= 0xFF:
        raise ValueError(f"XOR lock number must be 0-255, got {lock}")


def encode_unlock(board: int, lock: int) -> bytes:
    """``8A BB LL 11 X`` (lock 1-based), e.g. (1, 1) -> ``8A 01 01 11 9B``."""
    _check(board, lock)
    return _framed(bytes([UNLOCK_HEADER, board, lock, UNLOCK_CODE]))


def encode_query(board: int, lock: int = 0) -> bytes:
    """``80 BB LL 33 X``; lock 0 asks for every lock."""
    _check(board, lock)
    return _framed(bytes([QUERY_HEADER, board, lock, QUERY_CODE]))


def decode_request(frame: bytes) -> tuple[int, int, int]:
    """``(header, board, lock)`` of a 5-byte request.

    Raises:
        FrameError: wrong length, header, code or XOR.
    """
    if len(frame) != 5 or frame[0] not in (UNLOCK_HEADER, QUERY_HEADER):
        raise FrameError(f"not an XOR-board request: {hex_bytes(frame)}")
    code = UNLOCK_CODE if frame[0] == UNLOCK_HEADER else QUERY_CODE
    if frame[3] != code:
        raise FrameError(f"XOR-board request with code {frame[3]:02X}: {hex_bytes(frame)}")
    if xor(frame[:4]) != frame[4]:
        raise FrameError(f"XOR checksum mismatch in {hex_bytes(frame)}")
    return frame[0], frame[1], frame[2]


def encode_lock_reply(header: int, board: int, lock: int, closed: bool) -> bytes:
    """``8A|80 BB LL SS X`` with SS ``11`` closed / ``00`` open."""
    return _framed(bytes([header, board, lock, STATUS_CLOSED if closed else STATUS_OPEN]))


@dataclass(frozen=True)
class LockReply:
    """A one-lock reply (to an unlock or a single query)."""

    header: int
    board: int
    lock: int
    status: int


def decode_lock_reply_at(
    buffer: bytes, start: int, header: int, board: int, lock: int
) -> LockReply | None:
    """The 5-byte reply at ``buffer[start]``; ``None`` if none starts there or it is incomplete.

    Raises:
        FrameError: a complete candidate with a wrong XOR.
    """
    if buffer[start] != header or len(buffer) - start < 5:
        return None
    frame = buffer[start : start + 5]
    if frame[1] != board or frame[2] != lock:
        return None
    if xor(frame[:4]) != frame[4]:
        raise FrameError(
            f"XOR checksum mismatch in {hex_bytes(frame)}: expected {xor(frame[:4]):02X}"
        )
    return LockReply(frame[0], frame[1], frame[2], frame[3])


def encode_all_reply(board: int, closed: list[bool]) -> bytes:
    """``80 BB S1..Sn 33 X``: one bitmap byte per 8 locks, bit set = closed."""
    packed = bytearray((len(closed) + 7) // 8 or 1)
    for i, is_closed in enumerate(closed):
        if is_closed:
            packed[i // 8] |= 1 << (i % 8)
    return _framed(bytes([QUERY_HEADER, board]) + bytes(packed) + bytes([QUERY_CODE]))


def decode_all_reply(frame: bytes, board: int) -> list[bool]:
    """Closed flags of locks 1..8n from one whole (silence-delimited) query-all reply.

    Raises:
        FrameError: too short, wrong header/board/end code, or XOR mismatch.
    """
    if len(frame) < 5 or frame[0] != QUERY_HEADER:
        raise FrameError(f"not an XOR-board status reply: {hex_bytes(frame)}")
    if frame[1] != board:
        raise FrameError(f"XOR-board status reply from board {frame[1]}, expected {board}")
    if frame[-2] != QUERY_CODE:
        raise FrameError(f"XOR-board status reply without 33 end code: {hex_bytes(frame)}")
    if xor(frame[:-1]) != frame[-1]:
        raise FrameError(
            f"XOR checksum mismatch in {hex_bytes(frame)}: expected {xor(frame[:-1]):02X}"
        )
    return [bool(byte >> bit & 1) for byte in frame[2:-2] for bit in range(8)]
