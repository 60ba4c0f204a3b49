"""Golden frames (docs/protocols.md) for every codec, and round trips."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lockers.hardware.protocols import FrameError, kerong, lcus, modbus, xor
from lockers.hardware.protocols.framing import scan


def h(text: str) -> bytes:
    return bytes.fromhex(text)


# -- LCUS ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("channel", "on", "frame"),
    [(1, True, "A0 01 01 A2"), (1, False, "A0 01 00 A1"), (2, True, "A0 02 01 A3")],
)
def test_lcus_golden_switch_frames(channel: int, on: bool, frame: str) -> None:
    assert lcus.encode_switch(channel, on) == h(frame)
    assert lcus.decode_switch(h(frame)) == (channel, on)


def test_lcus_status_answer_golden() -> None:
    text = b"CH1: ON \r\nCH2: OFF\r\n"
    assert lcus.encode_status([True, False]) == text
    assert lcus.decode_status(text) == {1: True, 2: False}


@pytest.mark.parametrize("bad", ["A0 01 01 A3", "A1 01 01 A3", "A0 01 02 A3", "A0 01 01"])
def test_lcus_rejects_bad_commands(bad: str) -> None:
    with pytest.raises(FrameError):
        lcus.decode_switch(h(bad))


@pytest.mark.parametrize(
    "bad", [b"", b"garbage", b"CH1: ON \r\n\x55\xaaCH2: OFF\r\n", b"CH1: ON \r\nX"]
)
def test_lcus_rejects_bad_status(bad: bytes) -> None:
    with pytest.raises(FrameError):
        lcus.decode_status(bad)


def test_lcus_status_skips_leading_noise() -> None:
    assert lcus.decode_status(b"\x55\xaa\x00CH1: OFF\r\n") == {1: False}


@given(st.integers(1, 255), st.booleans())
def test_lcus_switch_round_trip(channel: int, on: bool) -> None:
    assert lcus.decode_switch(lcus.encode_switch(channel, on)) == (channel, on)


@given(st.lists(st.booleans(), min_size=1, max_size=16))
def test_lcus_status_round_trip(relays: list[bool]) -> None:
    assert lcus.decode_status(lcus.encode_status(relays)) == dict(enumerate(relays, 1))


# -- Modbus -------------------------------------------------------------------------------


def test_modbus_crc_worked_example() -> None:
    assert modbus.crc16(h("01 05 00 00 FF 00")) == 0x3A8C


@pytest.mark.parametrize(
    ("frame", "built"),
    [
        ("01 05 00 00 FF 00 8C 3A", lambda: modbus.encode_write_coil(1, 0, modbus.COIL_ON)),
        ("01 05 00 00 00 00 CD CA", lambda: modbus.encode_write_coil(1, 0, modbus.COIL_OFF)),
        ("01 05 00 FF 00 00 FD FA", lambda: modbus.encode_write_coil(1, 0xFF, modbus.COIL_OFF)),
        ("FF 05 00 00 FF 00 99 E4", lambda: modbus.frame(h("FF 05 00 00 FF 00"))),
        ("01 0F 00 00 00 08 01 FF BE D5", lambda: modbus.encode_write_coils(1, 0, [True] * 8)),
        ("01 01 00 00 00 08 3D CC", lambda: modbus.encode_read(1, 1, 0, 8)),
        ("01 02 00 00 00 08 79 CC", lambda: modbus.encode_read(1, 2, 0, 8)),
        ("01 05 02 00 00 07 8D B0", lambda: modbus.encode_flash_on(1, 0, 700)),
        ("01 85 02 C3 51", lambda: modbus.encode_exception(1, 5, 2)),
    ],
)
def test_modbus_golden_frames(frame: str, built) -> None:  # type: ignore[no-untyped-def]
    assert built() == h(frame)
    assert modbus.check_crc(h(frame)) == h(frame)[:-2]


def test_modbus_decodes_golden_requests() -> None:
    request = modbus.decode_request(h("01 0F 00 00 00 08 01 FF BE D5"))
    assert (request.address, request.function, request.start, request.value) == (1, 0x0F, 0, 8)
    assert request.values == (True,) * 8
    pulse = modbus.decode_request(h("01 05 02 00 00 07 8D B0"))
    assert (pulse.start, pulse.value) == (0x0200, 7)


def test_modbus_flash_rounds_up_to_100_ms() -> None:
    assert modbus.decode_request(modbus.encode_flash_on(1, 2, 250)).value == 3
    assert modbus.decode_request(modbus.encode_flash_on(1, 2, 10)).value == 1


def test_modbus_exception_reply_is_raised_with_its_name() -> None:
    with pytest.raises(modbus.ModbusException, match="illegal data address"):
        modbus.decode_reply_at(h("01 85 02 C3 51"), 0, 1, 5, 8)


def test_modbus_bad_crc_is_rejected_and_noise_skipped() -> None:
    good = modbus.encode_read_reply(1, 2, [True, False, True] + [False] * 5)
    bad = good[:-1] + bytes([good[-1] ^ 0xFF])
    with pytest.raises(FrameError, match="CRC mismatch"):
        modbus.check_crc(bad)

    def find(buffer: bytes):  # type: ignore[no-untyped-def]
        return scan(buffer, lambda d, s: modbus.decode_reply_at(d, s, 1, 2, 0))

    assert find(bad) == (None, find(bad)[1])
    assert "CRC mismatch" in find(bad)[1]
    body, _ = find(b"\x55\xaa\x00" + good)
    assert body is not None
    assert modbus.decode_read_reply(body, 8)[:3] == [True, False, True]


@given(
    st.integers(1, 247),
    st.sampled_from([modbus.READ_COILS, modbus.READ_DISCRETE_INPUTS]),
    st.integers(0, 0xFF),
    st.integers(1, 64),
)
def test_modbus_read_round_trip(address: int, function: int, start: int, quantity: int) -> None:
    frame = modbus.encode_read(address, function, start, quantity)
    assert modbus.request_length(frame) == len(frame)
    request = modbus.decode_request(frame)
    assert (request.address, request.function, request.start, request.value) == (
        address,
        function,
        start,
        quantity,
    )


@given(st.integers(1, 247), st.lists(st.booleans(), min_size=1, max_size=64))
def test_modbus_bits_round_trip(address: int, bits: list[bool]) -> None:
    reply = modbus.encode_read_reply(address, modbus.READ_DISCRETE_INPUTS, bits)
    body = modbus.decode_reply_at(reply, 0, address, modbus.READ_DISCRETE_INPUTS, 0)
    assert body is not None
    assert modbus.decode_read_reply(body, len(bits)) == bits
    coils = modbus.decode_request(modbus.encode_write_coils(address, 0, bits))
    assert list(coils.values) == bits


@given(st.binary(min_size=1, max_size=40))
def test_modbus_crc_detects_any_single_byte_change(data: bytes) -> None:
    framed = bytearray(modbus.frame(data))
    framed[0] ^= 0x01
    with pytest.raises(FrameError):
        modbus.check_crc(bytes(framed))


# -- Kerong -------------------------------------------------------------------------------


def test_kerong_golden_requests() -> None:
    assert kerong.encode_status_request(0) == h("02 00 30 03 35")
    assert kerong.encode_unlock(1, 5) == h("02 14 31 03 4A")
    assert kerong.decode_request_at(h("02 14 31 03 4A"), 0) == (0x14, 0x31)


def test_kerong_status_reply_bits() -> None:
    hooks = [True] * 16
    hooks[4] = False  # lock 5 open
    items = [False] * 16
    items[9] = True
    reply = kerong.encode_status_reply(1, 0x30, hooks, items)
    assert reply[:3] == h("02 10 30") and reply[3:5] == h("EF FF") and reply[5:7] == h("00 02")
    assert reply[7] == 0x03 and reply[8] == sum(reply[:8]) & 0xFF
    status = kerong.decode_status_at(reply, 0, board=1)
    assert status is not None
    assert list(status.hooks_closed) == hooks and list(status.items_present) == items
    assert kerong.decode_status_at(reply, 0, board=2) is None


def test_kerong_bad_checksum_rejected() -> None:
    reply = bytearray(kerong.encode_status_reply(0, 0x30, [True] * 16, [False] * 16))
    reply[-1] ^= 0xFF
    with pytest.raises(FrameError, match="checksum"):
        kerong.decode_status_at(bytes(reply), 0)
    with pytest.raises(FrameError):
        kerong.decode_request_at(h("02 00 30 03 36"), 0)


@given(
    st.integers(0, 15),
    st.lists(st.booleans(), min_size=16, max_size=16),
    st.lists(st.booleans(), min_size=16, max_size=16),
)
def test_kerong_status_round_trip(board: int, hooks: list[bool], items: list[bool]) -> None:
    status = kerong.decode_status_at(kerong.encode_status_reply(board, 0x30, hooks, items), 0)
    assert status is not None
    assert (status.board, list(status.hooks_closed), list(status.items_present)) == (
        board,
        hooks,
        items,
    )


@given(st.integers(0, 15), st.integers(1, 16))
def test_kerong_unlock_round_trip(board: int, channel: int) -> None:
    address, command = kerong.decode_request_at(kerong.encode_unlock(board, channel), 0) or (0, 0)
    assert (address >> 4, (address & 0x0F) + 1, command) == (board, channel, kerong.UNLOCK)


# -- XOR ----------------------------------------------------------------------------------


def test_xor_golden_frames() -> None:
    assert xor.encode_unlock(1, 1) == h("8A 01 01 11 9B")
    assert xor.encode_query(1) == h("80 01 00 33 B2")
    assert xor.decode_request(h("8A 01 01 11 9B")) == (0x8A, 1, 1)


def test_xor_lock_reply_and_bad_xor() -> None:
    reply = xor.encode_lock_reply(0x8A, 1, 1, closed=False)
    assert reply == h("8A 01 01 00 8A")
    decoded = xor.decode_lock_reply_at(reply, 0, 0x8A, 1, 1)
    assert decoded is not None and decoded.status == xor.STATUS_OPEN
    with pytest.raises(FrameError, match="XOR checksum"):
        xor.decode_lock_reply_at(reply[:-1] + b"\x00", 0, 0x8A, 1, 1)


def test_xor_all_reply_variable_length() -> None:
    closed = [True] * 24
    closed[2] = False
    reply = xor.encode_all_reply(3, closed)
    assert len(reply) == 2 + 3 + 2 and reply[:2] == h("80 03") and reply[-2] == 0x33
    assert xor.decode_all_reply(reply, 3) == closed
    with pytest.raises(FrameError):
        xor.decode_all_reply(reply + b"\x00", 3)


@given(st.integers(1, 31), st.lists(st.booleans(), min_size=1, max_size=48))
def test_xor_all_reply_round_trip(board: int, closed: list[bool]) -> None:
    decoded = xor.decode_all_reply(xor.encode_all_reply(board, closed), board)
    assert decoded[: len(closed)] == closed and not any(decoded[len(closed) :])


@given(st.integers(1, 31), st.integers(0, 255))
def test_xor_request_round_trip(board: int, lock: int) -> None:
    assert xor.decode_request(xor.encode_unlock(board, lock)) == (0x8A, board, lock)
    assert xor.decode_request(xor.encode_query(board, lock)) == (0x80, board, lock)


# -- the worked examples in docs/protocols.md -------------------------------------------------


def test_docs_worked_examples() -> None:
    assert modbus.encode_flash_on(1, 1, 100) == h("01 05 02 01 00 01 5C 72")
    assert modbus.encode_read(1, modbus.READ_DISCRETE_INPUTS, 0, 8) == h("01 02 00 00 00 08 79 CC")
    closed = kerong.encode_status_reply(0, kerong.STATUS, [True] * 16, [False] * 16)
    assert closed == h("02 00 30 FF FF 00 00 03 33")
    assert kerong.encode_unlock(1, 5) == h("02 14 31 03 4A")
    assert xor.encode_unlock(1, 1) == h("8A 01 01 11 9B")
    # The CRC register after each byte of "coil 0 on", as the page walks through it.
    trace = [modbus.crc16(h("01 05 00 00 FF 00")[:n]) for n in range(1, 7)]
    assert trace == [0x807E, 0x23C0, 0x5023, 0xD911, 0x4C59, 0x3A8C]
    assert modbus.encode_write_coil(1, 0, modbus.COIL_ON) == h("01 05 00 00 FF 00 8C 3A")
