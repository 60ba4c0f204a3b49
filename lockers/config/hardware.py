"""Config sections of the lock hardware: the board and the lockers wired to it."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from lockers.config._base import Section


class BoardConfig(Section):
    """The lock/relay board.

    ``port`` is anything ``serial.serial_for_url`` accepts (``/dev/ttyUSB0``, ``socket://…``,
    ``loop://``); ``emulator`` starts the built-in board emulator instead (demo mode).
    """

    protocol: Literal["lcus", "modbus", "kerong", "xor"] = "kerong"
    port: str = "emulator"
    baudrate: int | None = Field(None, description="None = the protocol's default")
    pulse_ms: int = Field(200, ge=50, le=5000)
    reply_timeout_s: float = Field(1.5, gt=0, le=30)


class LockerConfig(Section):
    """One physical locker: its label on the door and where its lock is wired."""

    label: str = Field(min_length=1, max_length=16)
    size: Literal["S", "M", "L"] = "M"
    board: int = Field(0, ge=0, le=255, description="board address on the bus")
    channel: int = Field(ge=1, le=64, description="lock/relay number on that board, 1-based")
