"""Modbus RTU relay boards (Waveshare "Modbus RTU Relay (D)" and compatibles).

See docs/protocols.md, "Modbus RTU relay boards".
``ADDR FC DATA... CRClo CRChi`` with CRC-16/MODBUS. Function codes used: 01 read
coils (relays), 02 read discrete inputs (door sensors), 05 write single coil (also the Waveshare
board-timed pulse: coil 0x0200 + n, value = N x 100 ms), 0F write multiple coils. An exception
reply has FC + 0x80 and one error code.
"""

from __future__ import annotations

from dataclasses import dataclass

from lockers.errors import BoardError
from lockers.hardware.protocols.framing import FrameError, hex_bytes

BAUDRATE = 9600
READ_COILS = 0x01
READ_DISCRETE_INPUTS = 0x02
WRITE_SINGLE_COIL = 0x05
WRITE_MULTIPLE_COILS = 0x0F
EXCEPTION_BIT = 0x80
COIL_ON = 0xFF00
COIL_OFF = 0x0000
ALL_COILS = 0x00FF  # Waveshare: coil 0x00FF switches every relay
FLASH_ON_BASE = 0x0200  # Waveshare: pulse relay n for value x 100 ms
FLASH_OFF_BASE = 0x0400  # unconfirmed (docs/protocols.md)
FLASH_UNIT_MS = 100

EXCEPTION_NAMES = {
    1: "illegal function",
    2: "illegal data address",
    3: "illegal data value",
    4: "server device failure",
    6: "server device busy",
}


def crc16(data: bytes) -> int:
    """CRC-16/MODBUS (register 0xFFFF, reflected polynomial 0xA001)."""
    crc = 0xFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc


def frame(body: bytes) -> bytes:
    """``body`` followed by its CRC, low byte first."""
    crc = crc16(body)
    return body + bytes([crc & 0xFF, crc >> 8])


def check_crc(data: bytes) -> bytes:
    """The body of a complete frame (without the CRC).

    Raises:
        FrameError: shorter than 4 bytes or CRC mismatch.
    """
    if len(data) < 4:
        raise FrameError(f"Modbus frame too short: {hex_bytes(data)}")
    body, got = data[:-2], data[-2] | (data[-1] << 8)
    if crc16(body) != got:
        raise FrameError(
            f"Modbus CRC mismatch in {hex_bytes(data)}: expected {crc16(body) & 0xFF:02X} "
            f"{crc16(body) >> 8:02X}"
        )
    return body


@dataclass(frozen=True)
class Request:
    """A decoded request. ``values`` holds coil states for FC 0F, else is empty."""

    address: int
    function: int
    start: int
    value: int  # quantity for FC 01/02/0F, coil value for FC 05
    values: tuple[bool, ...] = ()


def _u16(value: int, what: str) -> bytes:
    if not 0 <= value <= 0xFFFF:
        raise ValueError(f"Modbus {what} must be 0-65535, got {value}")
    return value.to_bytes(2, "big")


def _check_address(address: int) -> None:
    if not 0 <= address <= 247:
        raise ValueError(f"Modbus address must be 0-247 (0 = broadcast), got {address}")


def encode_read(address: int, function: int, start: int, quantity: int) -> bytes:
    """FC 01 (coils) or 02 (discrete inputs) request for ``quantity`` bits from ``start``."""
    _check_address(address)
    if function not in (READ_COILS, READ_DISCRETE_INPUTS):
        raise ValueError(f"not a read function: {function:#04x}")
    if not 1 <= quantity <= 2000:
        raise ValueError(f"Modbus read quantity must be 1-2000, got {quantity}")
    return frame(bytes([address, function]) + _u16(start, "start") + _u16(quantity, "quantity"))


def encode_write_coil(address: int, coil: int, value: int) -> bytes:
    """FC 05: ``value`` is 0xFF00 (on), 0x0000 (off), or N for the Waveshare flash coils."""
    _check_address(address)
    return frame(bytes([address, WRITE_SINGLE_COIL]) + _u16(coil, "coil") + _u16(value, "value"))


def encode_flash_on(address: int, relay_index: int, pulse_ms: int) -> bytes:
    """Waveshare board-timed pulse of relay ``relay_index`` (0-based), rounded up to 100 ms."""
    units = max(1, -(-pulse_ms // FLASH_UNIT_MS))
    return encode_write_coil(address, FLASH_ON_BASE + relay_index, units)


def encode_write_coils(address: int, start: int, states: list[bool]) -> bytes:
    """FC 0F: set ``len(states)`` coils from ``start``; bit 0 of the first byte = first coil."""
    _check_address(address)
    if not 1 <= len(states) <= 1968:
        raise ValueError(f"Modbus FC 0F writes 1-1968 coils, got {len(states)}")
    packed = pack_bits(states)
    return frame(
        bytes([address, WRITE_MULTIPLE_COILS])
        + _u16(start, "start")
        + _u16(len(states), "quantity")
        + bytes([len(packed)])
        + packed
    )


def pack_bits(states: list[bool]) -> bytes:
    """Booleans -> bytes, LSB first (bit 0 of byte 0 = first)."""
    out = bytearray((len(states) + 7) // 8)
    for i, on in enumerate(states):
        if on:
            out[i // 8] |= 1 << (i % 8)
    return bytes(out)


def unpack_bits(data: bytes, count: int) -> list[bool]:
    """The first ``count`` bits of ``data``, LSB first."""
    return [bool(data[i // 8] >> (i % 8) & 1) for i in range(count)]


def request_length(buffer: bytes) -> int | None:
    """Length of the request at the start of ``buffer``, or ``None`` until it can be told."""
    if len(buffer) < 2:
        return None
    function = buffer[1]
    if function in (READ_COILS, READ_DISCRETE_INPUTS, WRITE_SINGLE_COIL, 0x06):
        return 8
    if function == WRITE_MULTIPLE_COILS:
        return 9 + buffer[6] if len(buffer) >= 7 else None
    return 8  # unknown function: the emulator answers "illegal function" after 8 bytes


def decode_request(data: bytes) -> Request:
    """A complete request frame (see :func:`request_length`).

    Raises:
        FrameError: CRC mismatch or malformed FC 0F byte count.
    """
    body = check_crc(data)
    address, function = body[0], body[1]
    start = int.from_bytes(body[2:4], "big")
    value = int.from_bytes(body[4:6], "big")
    if function == WRITE_MULTIPLE_COILS:
        count = body[6]
        if count != (value + 7) // 8 or len(body) != 7 + count:
            raise FrameError(f"Modbus FC 0F byte count mismatch in {hex_bytes(data)}")
        return Request(address, function, start, value, tuple(unpack_bits(body[7:], value)))
    return Request(address, function, start, value)


def encode_read_reply(address: int, function: int, bits: list[bool]) -> bytes:
    """Reply to FC 01/02: ``ADDR FC nbytes <bits> CRC``."""
    packed = pack_bits(bits)
    return frame(bytes([address, function, len(packed)]) + packed)


def encode_write_multiple_reply(address: int, start: int, quantity: int) -> bytes:
    """Reply to FC 0F: ``ADDR 0F start qty CRC``."""
    return frame(
        bytes([address, WRITE_MULTIPLE_COILS]) + _u16(start, "start") + _u16(quantity, "q")
    )


def encode_exception(address: int, function: int, code: int) -> bytes:
    """Exception reply: ``ADDR FC|80 code CRC``."""
    return frame(bytes([address, function | EXCEPTION_BIT, code]))


class ModbusException(BoardError):
    """The board answered with an exception (it understood the request and refused it).

    Not a :class:`FrameError`: frame scanning lets it through instead of skipping it.
    """

    def __init__(self, address: int, function: int, code: int) -> None:
        name = EXCEPTION_NAMES.get(code, "unknown error")
        super().__init__(
            f"Modbus board {address} refused function {function:02X}: exception {code:02X} "
            f"({name})",
            hint="check the channel and board address against the board's manual",
        )
        self.code = code


def decode_reply_at(
    buffer: bytes, start: int, address: int, function: int, expected_length: int
) -> bytes | None:
    """The body of a reply from ``address`` to ``function`` starting at ``buffer[start]``.

    ``None`` when no reply starts there or it is still incomplete.

    Raises:
        ModbusException: a valid exception reply.
        FrameError: a complete candidate frame whose CRC does not match.
    """
    if len(buffer) - start < 2 or buffer[start] != address:
        return None
    function_byte = buffer[start + 1]
    if function_byte == function | EXCEPTION_BIT:
        if len(buffer) - start < 5:
            return None
        body = check_crc(buffer[start : start + 5])
        raise ModbusException(address, function, body[2])
    if function_byte != function:
        return None
    if function in (READ_COILS, READ_DISCRETE_INPUTS):
        if len(buffer) - start < 3:
            return None
        expected_length = 5 + buffer[start + 2]
    if len(buffer) - start < expected_length:
        return None
    return check_crc(buffer[start : start + expected_length])


def decode_read_reply(body: bytes, count: int) -> list[bool]:
    """The first ``count`` bits of an FC 01/02 reply body.

    Raises:
        FrameError: fewer data bytes than ``count`` bits need.
    """
    nbytes = body[2]
    if nbytes < (count + 7) // 8 or len(body) != 3 + nbytes:
        raise FrameError(f"Modbus read reply carries {nbytes} bytes, {count} bits asked for")
    return unpack_bits(body[3:], count)
