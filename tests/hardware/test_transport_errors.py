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
from lockers.hardware.transport import PortUnavailable, SerialTransport, describe_open_error


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


def test_reopen_waits_follow_the_backoff_rule() -> None:
    transport = SerialTransport(
        "/dev/ttyLOCKERS-NOPE", baudrate=9600, reconnect_initial_s=0.05, reconnect_max_s=0.12
    )
    rule = transport.reconnect.rule
    assert (rule.base_s, rule.max_s) == (0.05, 0.12)
    waits = []
    for _ in range(4):
        before = time.monotonic()
        with pytest.raises(PortUnavailable, match="does not exist"):
            transport.ensure_open(deadline=before + 1.0)  # waits out the back-off, then tries
        waits.append(transport._next_attempt - time.monotonic())
    assert transport.reconnect.failures == 4
    assert [round(rule.wait_s(n), 3) for n in (1, 2, 3, 4)] == [0.05, 0.1, 0.12, 0.12]
    assert all(0 < wait <= rule.wait_s(n) for n, wait in enumerate(waits, 1)), waits
    with pytest.raises(PortUnavailable, match="next reopen attempt in"):
        transport.ensure_open()  # no deadline: fails at once while backing off


def test_open_error_is_a_board_error() -> None:
    assert issubclass(PortUnavailable, BoardError)


def test_arbiter_serves_urgent_before_routine() -> None:
    arbiter = BusArbiter()
    order: list[str] = []
    holding, release = threading.Event(), threading.Event()

    def hold(name: str, urgent: bool) -> None:
        with arbiter.hold(urgent=urgent, deadline=time.monotonic() + 5) as got:
            assert got
            order.append(name)
            if name == "first":
                holding.set()
                release.wait(5)

    first = threading.Thread(target=hold, args=("first", False))
    first.start()
    assert holding.wait(5), "the first holder got the bus"
    polls = [threading.Thread(target=hold, args=(f"poll{i}", False)) for i in range(3)]
    for thread in polls:
        thread.start()
    assert arbiter.wait_for_waiting(3, timeout_s=5), "the three polls queued"
    unlock = threading.Thread(target=hold, args=("unlock", True))
    unlock.start()
    assert arbiter.wait_for_waiting(4, timeout_s=5), "the unlock queued behind them"
    release.set()
    for thread in [first, *polls, unlock]:
        thread.join()
    assert order[:2] == ["first", "unlock"]
    assert sorted(order[2:]) == ["poll0", "poll1", "poll2"]


def test_arbiter_deadline_yields_false() -> None:
    arbiter = BusArbiter()
    with arbiter.hold(urgent=False, deadline=time.monotonic() + 1) as got:
        assert got
        with arbiter.hold(urgent=True, deadline=time.monotonic() + 0.05) as second:
            assert not second
    with arbiter.hold(urgent=False, deadline=time.monotonic() + 0.05) as third:
        assert third, "a holder that gave up must not leave the bus marked busy"
