"""Opening ports: one clear line naming the port and what to check; the bus arbiter's order."""

from __future__ import annotations

import errno
import threading
import time

import pytest
import serial
from conftest import fast_config, lockers_for, make_emulator

from lockers.errors import BoardError, ConfigError
from lockers.hardware.boards import open_board
from lockers.hardware.boards.bus import BusArbiter
from lockers.hardware.transport import PortUnavailable, describe_open_error


def test_missing_port_names_it_and_what_to_check() -> None:
    with pytest.raises(PortUnavailable) as info:
        open_board(fast_config("kerong", "/dev/ttyLOCKERS-NOPE"), lockers_for("kerong"))
    assert info.value.message == "serial port /dev/ttyLOCKERS-NOPE does not exist"
    assert "lockers board ports" in info.value.hint and "\n" not in info.value.message


def test_busy_port_is_reported_as_busy() -> None:
    with make_emulator("kerong") as emulator:
        config = fast_config("kerong", emulator.port)
        with open_board(config, lockers_for("kerong")), pytest.raises(PortUnavailable) as info:
            open_board(config, lockers_for("kerong"))
    assert info.value.message == f"serial port {emulator.port} is busy: another program holds it"
    assert "fuser" in info.value.hint


def test_not_a_serial_port() -> None:
    with pytest.raises(PortUnavailable, match="not a valid port name"):
        open_board(fast_config("xor", "nonsense://x"), lockers_for("xor"))


def test_permission_denied_points_at_dialout() -> None:
    exc = serial.SerialException(errno.EACCES, "could not open port /dev/ttyUSB0: denied")
    error = describe_open_error("/dev/ttyUSB0", exc)
    assert error.message == "no permission to open serial port /dev/ttyUSB0"
    assert "dialout" in error.hint and "scripts/udev" in error.hint


@pytest.mark.parametrize(
    ("protocol", "board", "channel", "match"),
    [
        ("modbus", 0, 1, "board 0 cannot be addressed"),
        ("kerong", 16, 1, "board 16 cannot be addressed"),
        ("kerong", 0, 17, "channel 17 is outside"),
        ("xor", 0, 1, "board 0 cannot be addressed"),
        ("lcus", 1, 1, "board 1 cannot be addressed"),
    ],
)
def test_unaddressable_lockers_are_config_errors(
    protocol: str, board: int, channel: int, match: str
) -> None:
    from lockers.config.hardware import LockerConfig

    lockers = [LockerConfig(label="A1", board=board, channel=channel)]
    with pytest.raises(ConfigError, match=match):
        open_board(fast_config(protocol, "/dev/null"), lockers)


def test_emulator_port_opens_an_in_process_emulator() -> None:
    config = fast_config("kerong", "emulator")
    with open_board(config, lockers_for("kerong")) as board:
        assert board.emulator is not None and board.emulator.running
        assert board.healthy()
        emulator = board.emulator
    assert not emulator.running


def test_open_error_is_a_board_error() -> None:
    assert issubclass(PortUnavailable, BoardError)


def test_arbiter_serves_urgent_before_routine() -> None:
    arbiter = BusArbiter()
    order: list[str] = []
    release = threading.Event()

    def hold(name: str, urgent: bool) -> None:
        with arbiter.hold(urgent=urgent, deadline=time.monotonic() + 5) as got:
            assert got
            order.append(name)
            if name == "first":
                release.wait(5)

    first = threading.Thread(target=hold, args=("first", False))
    first.start()
    time.sleep(0.05)
    polls = [threading.Thread(target=hold, args=(f"poll{i}", False)) for i in range(3)]
    for thread in polls:
        thread.start()
    time.sleep(0.05)
    unlock = threading.Thread(target=hold, args=("unlock", True))
    unlock.start()
    time.sleep(0.05)
    release.set()
    for thread in [first, *polls, unlock]:
        thread.join()
    assert order[:2] == ["first", "unlock"]


def test_arbiter_deadline_yields_false() -> None:
    arbiter = BusArbiter()
    with arbiter.hold(urgent=False, deadline=time.monotonic() + 1) as got:
        assert got
        with arbiter.hold(urgent=True, deadline=time.monotonic() + 0.05) as second:
            assert not second
    with arbiter.hold(urgent=False, deadline=time.monotonic() + 0.05) as third:
        assert third, "a holder that gave up must not leave the bus marked busy"
