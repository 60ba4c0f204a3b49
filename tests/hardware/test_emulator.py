"""The emulator byte for byte over a real pty, its faults, and a clean stop."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest
import serial

from lockers.hardware.emulator import BoardEmulator
from lockers.hardware.protocols import modbus


def h(text: str) -> bytes:
    return bytes.fromhex(text)


def exchange(port: serial.Serial, request: bytes, size: int) -> bytes:
    port.reset_input_buffer()
    port.write(request)
    return port.read(size)


def open_raw(emulator: BoardEmulator) -> serial.Serial:
    return serial.serial_for_url(emulator.port, baudrate=9600, timeout=0.5)


def test_modbus_golden_exchanges() -> None:
    with BoardEmulator("modbus", channels=8) as emulator, open_raw(emulator) as port:
        assert exchange(port, h("01 05 00 00 FF 00 8C 3A"), 8) == h("01 05 00 00 FF 00 8C 3A")
        assert emulator.relay_on(1, 1) and emulator.pulse_count(1, 1) == 1
        assert exchange(port, h("01 01 00 00 00 08 3D CC"), 6) == modbus.encode_read_reply(
            1, 1, [True] + [False] * 7
        )
        assert exchange(port, h("01 05 00 FF 00 00 FD FA"), 8) == h("01 05 00 FF 00 00 FD FA")
        assert not emulator.relay_on(1, 1)
        # A door that opened shows on discrete input 1 (bit 0).
        assert exchange(port, h("01 02 00 00 00 08 79 CC"), 6) == modbus.encode_read_reply(
            1, 2, [True] + [False] * 7
        )
        pulse = modbus.encode_flash_on(1, 1, 100)
        assert exchange(port, pulse, 8) == pulse
        assert emulator.relay_on(1, 2)
        assert emulator.wait_until(lambda: not emulator.relay_on(1, 2)), (
            "the board ends its own pulse"
        )
        assert exchange(port, modbus.encode_write_coil(1, 0x0300, 1), 5) == h("01 85 02 C3 51")


def test_kerong_and_xor_golden_exchanges() -> None:
    with BoardEmulator("kerong") as emulator, open_raw(emulator) as port:
        reply = exchange(port, h("02 00 30 03 35"), 9)
        assert reply == h("02 00 30 FF FF 00 00 03 33")
    with BoardEmulator("xor", unlock_reply_delay_s=0.01) as emulator, open_raw(emulator) as port:
        assert exchange(port, h("80 01 00 33 B2"), 7) == h("80 01 FF FF FF 33 4D")
        assert exchange(port, h("8A 01 01 11 9B"), 5) == h("8A 01 01 00 8A")  # 00 = open


def test_lcus_status_and_commands() -> None:
    with BoardEmulator("lcus", channels=2) as emulator, open_raw(emulator) as port:
        port.write(h("A0 02 01 A3"))
        assert emulator.wait_until(lambda: emulator.relay_on(0, 2))
        assert exchange(port, b"\xff", 64) == b"CH1: OFF\r\nCH2: ON \r\n"


def test_noise_before_a_request_is_skipped() -> None:
    with BoardEmulator("kerong") as emulator, open_raw(emulator) as port:
        assert exchange(port, h("55 02 AA") + h("02 00 30 03 35"), 9)[:3] == h("02 00 30")


def test_faults_corrupt_garbage_mute_delay() -> None:
    with BoardEmulator("kerong") as emulator, open_raw(emulator) as port:
        good = exchange(port, h("02 00 30 03 35"), 9)
        emulator.corrupt_replies(1)
        assert exchange(port, h("02 00 30 03 35"), 9) == good[:-1] + bytes([good[-1] ^ 0xFF])
        emulator.garbage_replies(1, b"\x99")
        assert exchange(port, h("02 00 30 03 35"), 10) == b"\x99" + good
        emulator.set_mute(True)
        assert exchange(port, h("02 00 31 03 36"), 9) == b""
        assert emulator.pulse_count(0, 1) == 1, "a mute board still acts"
        emulator.set_mute(False)
        emulator.set_reply_delay(0.3)
        port.timeout = 0.1
        assert exchange(port, h("02 00 30 03 35"), 9) == b""


def test_unplug_removes_the_port_and_replug_restores_it() -> None:
    before = set(threading.enumerate())
    with BoardEmulator("xor") as emulator:
        path = Path(emulator.port)
        assert path.is_symlink()
        emulator.unplug()
        assert not path.exists()
        emulator.replug()
        assert path.exists()
        with open_raw(emulator) as port:
            assert len(exchange(port, h("80 01 00 33 B2"), 7)) == 7
    assert not path.parent.exists(), "the temporary folder is removed"
    assert set(threading.enumerate()) == before


def test_stop_is_idempotent_and_closes_fds() -> None:
    fds_before = len(os.listdir("/proc/self/fd"))
    emulator = BoardEmulator("modbus").start()
    emulator.stop()
    emulator.stop()
    assert len(os.listdir("/proc/self/fd")) == fds_before
    assert not emulator.running


def test_fault_commands() -> None:
    with BoardEmulator("kerong", boards=2, door_close_after_s=5) as emulator:
        assert emulator.command("jam 1 3") == "ok" and emulator.boards[1].lock(3).jammed
        assert emulator.command("force 0 2") == "ok" and emulator.door_open(0, 2)
        assert emulator.command("offline 1") == "ok" and emulator.boards[1].offline
        assert emulator.command("delay 0.1") == "ok"
        assert "board 0: open [2]" in emulator.command("state")
        assert emulator.command("help").startswith("commands:")
        assert "cannot do" in emulator.command("jam 9 1")


@pytest.mark.parametrize(
    ("protocol", "kwargs"), [("lcus", {"boards": 2}), ("nope", {}), ("modbus", {"addresses": []})]
)
def test_impossible_layouts_are_refused(protocol: str, kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        BoardEmulator(protocol, **kwargs)  # type: ignore[arg-type]
