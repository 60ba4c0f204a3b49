"""One driver per protocol, a registry by protocol name, and the factory the app uses."""

from __future__ import annotations

from collections.abc import Sequence

from lockers.config.hardware import BoardConfig, LockerConfig
from lockers.hardware.boards.base import EventCallback, PulseRefused, SerialBoard
from lockers.hardware.boards.kerong import KerongBoard
from lockers.hardware.boards.lcus import LcusBoard
from lockers.hardware.boards.modbus import ModbusBoard
from lockers.hardware.boards.xor import XorBoard

DRIVERS: dict[str, type[SerialBoard]] = {
    "lcus": LcusBoard,
    "modbus": ModbusBoard,
    "kerong": KerongBoard,
    "xor": XorBoard,
}

EMULATOR_PORT = "emulator"


def open_board(
    config: BoardConfig,
    lockers: Sequence[LockerConfig],
    *,
    port: str | None = None,
    protocol: str | None = None,
    on_event: EventCallback | None = None,
) -> SerialBoard:
    """Open the bus described by ``config`` (``port``/``protocol`` override it, as the CLI does).

    With port ``emulator`` an in-process :class:`~lockers.hardware.emulator.BoardEmulator` is
    started for the configured boards and channels; it is reachable as ``board.emulator`` (to
    inject faults in demo mode) and stops when the board closes.

    Raises:
        ConfigError: unknown protocol, or a locker the protocol cannot address.
        PortUnavailable (a BoardError): the port is missing, busy or not permitted.
    """
    from lockers.errors import ConfigError

    name = protocol or config.protocol
    driver = DRIVERS.get(name)
    if driver is None:
        raise ConfigError(
            f"unknown board protocol {name!r}",
            hint=f"use one of: {', '.join(DRIVERS)}",
        )
    if protocol is not None and protocol != config.protocol:
        config = config.model_copy(update={"protocol": protocol})
    url = port or config.port
    emulator = None
    if url == EMULATOR_PORT:
        from lockers.hardware.emulator import BoardEmulator

        addresses = sorted({locker.board for locker in lockers}) or [driver.board_range[0]]
        channels = max((locker.channel for locker in lockers), default=8)
        emulator = BoardEmulator(
            name,
            addresses=addresses,
            channels=channels,
            door_close_after_s=config.emulator_door_close_after_s,
            feedback_invert=config.feedback_invert,
        )
        emulator.start()
        url = emulator.port
    board: SerialBoard | None = None
    try:
        board = driver(config, lockers, port=url, on_event=on_event)
        if emulator is not None:
            board.emulator = emulator
            board.own(emulator.stop)
        board.open()
    except BaseException:
        if board is not None:
            board.close()
        if emulator is not None:
            emulator.stop()
        raise
    return board


__all__ = [
    "DRIVERS",
    "EMULATOR_PORT",
    "KerongBoard",
    "LcusBoard",
    "ModbusBoard",
    "PulseRefused",
    "SerialBoard",
    "XorBoard",
    "open_board",
]
