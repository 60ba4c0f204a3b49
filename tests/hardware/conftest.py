"""An emulated bus per protocol on a real pty, and a driver configured with short timings."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from lockers.config.hardware import BoardConfig, LockerConfig
from lockers.hardware.boards import SerialBoard, open_board
from lockers.hardware.emulator import BoardEmulator

PROTOCOLS = ["lcus", "modbus", "kerong", "xor"]
# Two boards on one bus wherever the protocol has addresses.
BOARDS = {"lcus": [0], "modbus": [1, 2], "kerong": [0, 1], "xor": [1, 2]}
CHANNELS = (1, 2, 3)


@pytest.fixture(autouse=True)
def _no_leaked_fds() -> Iterator[None]:
    """A test that leaves a port, a pty or a pipe open fails."""
    if not sys.platform.startswith("linux"):
        yield
        return
    before = set(os.listdir("/proc/self/fd"))
    yield
    leaked = set(os.listdir("/proc/self/fd")) - before
    targets = []
    for fd in sorted(leaked):
        try:
            targets.append(os.readlink(f"/proc/self/fd/{fd}"))
        except OSError:  # the listing's own descriptor, closed by now
            continue
    assert not targets, f"test leaked file descriptors: {targets}"


def fast_config(protocol: str, port: str, **overrides: Any) -> BoardConfig:
    """Timings a few times shorter than production, so the suite stays fast but not flaky."""
    values: dict[str, Any] = {
        "protocol": protocol,
        "port": port,
        "pulse_ms": 50,
        "reply_timeout_s": 0.15,
        "quiet_s": 0.02,
        "inter_frame_gap_s": 0.001,
        "poll_interval_s": 0.03,
        "detection_window_s": 0.3,
        "reconnect_initial_s": 0.05,
        "reconnect_max_s": 0.2,
        "unlock_expiry_s": 1.0,
    }
    values.update(overrides)
    return BoardConfig(**values)


def lockers_for(protocol: str) -> list[LockerConfig]:
    return [
        LockerConfig(label=f"{board}-{channel}", board=board, channel=channel)
        for board in BOARDS[protocol]
        for channel in CHANNELS
    ]


@dataclass
class Rig:
    """A running emulator and a way to open drivers against it (closed after the test)."""

    protocol: str
    emulator: BoardEmulator
    open: Callable[..., SerialBoard]

    @property
    def boards(self) -> list[int]:
        return BOARDS[self.protocol]


def make_emulator(protocol: str, **overrides: Any) -> BoardEmulator:
    options: dict[str, Any] = {
        "addresses": BOARDS[protocol],
        "channels": 8,
        "door_close_after_s": 0.6,
        "door_open_delay_s": 0.02,
        "unlock_reply_delay_s": 0.03,
        "pulse_s": 0.05,
    }
    options.update(overrides)
    return BoardEmulator(protocol, **options)


@pytest.fixture(params=PROTOCOLS)
def rig(request: pytest.FixtureRequest) -> Iterator[Rig]:
    protocol: str = request.param
    opened: list[SerialBoard] = []
    with make_emulator(protocol) as emulator:

        def open_driver(**overrides: Any) -> SerialBoard:
            lockers = overrides.pop("lockers", None) or lockers_for(protocol)
            board = open_board(fast_config(protocol, emulator.port, **overrides), lockers)
            opened.append(board)
            return board

        try:
            yield Rig(protocol, emulator, open_driver)
        finally:
            for board in opened:
                board.close()
