"""Config sections of the lock hardware: the board and the lockers wired to it."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from lockers.config._base import Section

Protocol = Literal["lcus", "modbus", "kerong", "xor"]
LABEL_MAX_LENGTH = 16  # lockers.label in the database, site.label_prefix included


class BoardConfig(Section):
    """The lock/relay board (or a bus of several boards on one serial port).

    ``port`` is anything ``serial.serial_for_url`` accepts (``/dev/ttyUSB0``, ``socket://…``,
    ``loop://``, ``spy:///dev/ttyUSB0`` to hex-dump the wire); ``emulator`` starts the built-in
    board emulator instead (demo mode). Times are seconds (``_s``) or milliseconds (``_ms``).
    """

    protocol: Protocol = "kerong"
    port: str = "emulator"
    baudrate: int | None = Field(None, description="None = the protocol's default")
    parity: Literal["N", "E", "O"] = Field("N", description="some eletechsup units ship as 8E1")
    pulse_ms: int = Field(200, ge=50, le=5000, description="how long the lock is energised")
    pulse_timing: Literal["board", "host"] = Field(
        "board",
        description="modbus: 'board' uses the Waveshare flash-on (a crashed host cannot leave a "
        "lock energised); 'host' switches the coil on and off itself",
    )
    reply_timeout_s: float = Field(1.5, gt=0, le=30, description="longest wait for a reply")
    quiet_s: float = Field(
        0.025, gt=0, le=1, description="line silence that ends a variable-length reply"
    )
    inter_frame_gap_s: float = Field(
        0.005, ge=0, le=1, description="minimum gap between transactions on the bus"
    )
    poll_interval_s: float = Field(0.5, gt=0, le=10, description="feedback polling after a pulse")
    detection_window_s: float = Field(
        10.0, ge=0, le=120, description="how long to wait for a pulsed door to report open"
    )
    feedback_invert: bool = Field(
        False, description="flip the protocol's default reading of the door/lock feedback bit"
    )
    debounce_reads: int = Field(
        1, ge=1, le=10, description="a door change counts after this many equal readings in a row"
    )
    poll_retries: int = Field(1, ge=0, le=5, description="status polls retried (never unlocks)")
    unlock_expiry_s: float = Field(
        5.0, gt=0, le=60, description="an unlock that cannot be sent within this is dropped"
    )
    reconnect_initial_s: float = Field(0.5, gt=0, le=60, description="first reopen back-off")
    reconnect_max_s: float = Field(10.0, gt=0, le=600, description="longest reopen back-off")
    exclusive: bool = Field(True, description="lock the port so a second program cannot use it")
    emulator_door_close_after_s: float = Field(
        3.0, gt=0, le=600, description="demo mode: an opened door is closed again after this"
    )

    @model_validator(mode="after")
    def _backoff_order(self) -> BoardConfig:
        if self.reconnect_max_s < self.reconnect_initial_s:
            raise ValueError("reconnect_max_s must be >= reconnect_initial_s")
        return self


class LockerConfig(Section):
    """One physical locker: its label on the door and where its lock is wired."""

    label: str = Field(min_length=1, max_length=LABEL_MAX_LENGTH)
    size: Literal["S", "M", "L"] = "M"
    board: int = Field(0, ge=0, le=255, description="board address on the bus")
    channel: int = Field(ge=1, le=64, description="lock/relay number on that board, 1-based")
