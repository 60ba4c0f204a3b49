"""LCUS-1/2/4/8/16 USB relay modules (CH340): ``A0 CH OP SUM`` commands, ASCII status lines.

See docs/protocols.md, "LCUS relay modules".
9600 8N1; CH is 1-based; OP ``01`` on / ``00`` off; SUM = (A0 + CH + OP) & FF.
Commands are not acknowledged. The status request is the single byte ``FF``; the answer is one
line per relay, ``CH1: ON \\r\\nCH2: OFF\\r\\n``.
"""

from __future__ import annotations

import re

from lockers.hardware.protocols.framing import FrameError, hex_bytes

BAUDRATE = 9600
START = 0xA0
STATUS_REQUEST = b"\xff"
MAX_CHANNEL = 16
_STATUS_LINE = re.compile(rb"CH(\d{1,2}): ?(ON|OFF) ?\r?\n")


def checksum(channel: int, on: bool) -> int:
    """(0xA0 + channel + op) & 0xFF."""
    return (START + channel + int(on)) & 0xFF


def encode_switch(channel: int, on: bool) -> bytes:
    """The 4-byte command that switches relay ``channel`` (1-based) on or off.

    Raises:
        ValueError: channel outside 1-255.
    """
    if not 1 <= channel <= 0xFF:
        raise ValueError(f"LCUS relay number must be 1-255, got {channel}")
    return bytes([START, channel, int(on), checksum(channel, on)])


def decode_switch(frame: bytes) -> tuple[int, bool]:
    """``(channel, on)`` of a 4-byte command.

    Raises:
        FrameError: wrong length, start byte, op code or checksum.
    """
    if len(frame) != 4 or frame[0] != START:
        raise FrameError(f"not an LCUS command: {hex_bytes(frame)}")
    channel, op, total = frame[1], frame[2], frame[3]
    if op not in (0, 1):
        raise FrameError(f"LCUS op must be 00 or 01, got {op:02X} in {hex_bytes(frame)}")
    expected = checksum(channel, bool(op))
    if total != expected:
        raise FrameError(f"LCUS checksum mismatch in {hex_bytes(frame)}: expected {expected:02X}")
    return channel, bool(op)


def encode_status(relays: list[bool]) -> bytes:
    """The ASCII status answer for relays 1..n (``ON`` padded to 3 characters)."""
    return b"".join(
        f"CH{i}: {'ON ' if on else 'OFF'}\r\n".encode("ascii") for i, on in enumerate(relays, 1)
    )


def decode_status(data: bytes) -> dict[int, bool]:
    """Relay number (1-based) -> on, from one status answer. Noise before the first line is
    skipped (the line is often not quiet when the module starts answering).

    Raises:
        FrameError: no ``CHn: ON|OFF`` line at all, or bytes between or after lines that are
            not one.
    """
    states: dict[int, bool] = {}
    position = -1
    for match in _STATUS_LINE.finditer(data):
        if position >= 0 and data[position : match.start()].strip(b"\r\n\x00 "):
            raise FrameError(f"garbage in LCUS status answer: {data!r}")
        states[int(match.group(1))] = match.group(2) == b"ON"
        position = match.end()
    if not states or data[position:].strip(b"\r\n\x00 "):
        raise FrameError(f"not an LCUS status answer: {data!r}")
    return states
