"""Kerong KR-CU12/CU16-style lock-control boards: 5-byte requests, 9-byte status replies.

See docs/protocols.md, "Kerong-style lock controllers" (reverse engineered).
19200 8N1. Request ``02 ADDR CMD 03 SUM``; ADDR high
nibble = board (DIP switch), low nibble = lock 0-15, ``F0`` = broadcast; SUM = sum of the four
bytes & FF. Status reply ``02 ADDR CMD D1 D2 D3 D4 03 SUM``: D1/D2 hook state of locks 1-8 / 9-16
(bit set = closed), D3/D4 item sensors. The reply's CMD byte is unconfirmed, so it is not checked.
"""

from __future__ import annotations

from dataclasses import dataclass

from lockers.hardware.protocols.framing import FrameError, hex_bytes

BAUDRATE = 19200
STX = 0x02
ETX = 0x03
STATUS = 0x30
UNLOCK = 0x31
STATUS_ALL = 0x32
UNLOCK_ALL = 0x33
BROADCAST = 0xF0
LOCKS_PER_BOARD = 16
MAX_BOARD = 15
REQUEST_LENGTH = 5
REPLY_LENGTH = 9


def checksum(data: bytes) -> int:
    """Sum of ``data`` & 0xFF."""
    return sum(data) & 0xFF


def address_byte(board: int, lock_index: int) -> int:
    """Board 0-15 in the high nibble, lock 0-15 in the low nibble."""
    if not 0 <= board <= MAX_BOARD:
        raise ValueError(f"Kerong board number must be 0-15, got {board}")
    if not 0 <= lock_index < LOCKS_PER_BOARD:
        raise ValueError(f"Kerong lock index must be 0-15, got {lock_index}")
    return board << 4 | lock_index


def encode_request(address: int, command: int) -> bytes:
    """``02 ADDR CMD 03 SUM``."""
    body = bytes([STX, address & 0xFF, command & 0xFF, ETX])
    return body + bytes([checksum(body)])


def encode_status_request(board: int) -> bytes:
    """Status of one board, e.g. board 0 -> ``02 00 30 03 35``."""
    return encode_request(address_byte(board, 0), STATUS)


def encode_unlock(board: int, channel: int) -> bytes:
    """Unlock lock ``channel`` (1-based) of ``board``, e.g. (1, 5) -> ``02 14 31 03 4A``."""
    return encode_request(address_byte(board, channel - 1), UNLOCK)


@dataclass(frozen=True)
class Status:
    """A decoded status reply. Lists are indexed by lock 0-15 (lock n is index n-1)."""

    board: int
    command: int
    hooks_closed: tuple[bool, ...]
    items_present: tuple[bool, ...]


def _bits16(low: int, high: int) -> tuple[bool, ...]:
    word = low | high << 8
    return tuple(bool(word >> i & 1) for i in range(LOCKS_PER_BOARD))


def _bytes16(bits: tuple[bool, ...] | list[bool]) -> bytes:
    word = sum(1 << i for i, on in enumerate(bits[:LOCKS_PER_BOARD]) if on)
    return bytes([word & 0xFF, word >> 8])


def decode_request_at(buffer: bytes, start: int) -> tuple[int, int] | None:
    """``(address byte, command)`` of a request at ``buffer[start]``, ``None`` if none/incomplete.

    Raises:
        FrameError: a complete candidate with a wrong end byte or checksum.
    """
    if buffer[start] != STX or len(buffer) - start < REQUEST_LENGTH:
        return None
    frame = buffer[start : start + REQUEST_LENGTH]
    if frame[3] != ETX:
        raise FrameError(f"Kerong request without 03 end byte: {hex_bytes(frame)}")
    if checksum(frame[:4]) != frame[4]:
        raise FrameError(f"Kerong checksum mismatch in {hex_bytes(frame)}")
    return frame[1], frame[2]


def encode_status_reply(
    board: int, command: int, hooks_closed: list[bool], items_present: list[bool]
) -> bytes:
    """``02 ADDR CMD D1 D2 D3 D4 03 SUM`` with ADDR = board << 4."""
    body = (
        bytes([STX, address_byte(board, 0), command & 0xFF])
        + _bytes16(hooks_closed)
        + _bytes16(items_present)
        + bytes([ETX])
    )
    return body + bytes([checksum(body)])


def decode_status_at(buffer: bytes, start: int, board: int | None = None) -> Status | None:
    """The status reply at ``buffer[start]`` (from ``board`` if given), ``None`` if none/incomplete.

    Raises:
        FrameError: a complete candidate with a wrong end byte or checksum.
    """
    if buffer[start] != STX or len(buffer) - start < REPLY_LENGTH:
        return None
    frame = buffer[start : start + REPLY_LENGTH]
    if board is not None and frame[1] >> 4 != board:
        return None
    if frame[7] != ETX:
        raise FrameError(f"Kerong reply without 03 end byte: {hex_bytes(frame)}")
    if checksum(frame[:8]) != frame[8]:
        raise FrameError(
            f"Kerong checksum mismatch in {hex_bytes(frame)}: expected {checksum(frame[:8]):02X}"
        )
    return Status(
        board=frame[1] >> 4,
        command=frame[2],
        hooks_closed=_bits16(frame[3], frame[4]),
        items_present=_bits16(frame[5], frame[6]),
    )
