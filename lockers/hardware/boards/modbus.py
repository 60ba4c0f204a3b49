"""Modbus RTU relay boards (Waveshare Relay (D) and compatibles), several per RS-485 bus.

Unlock: the board-timed "flash on" (coil 0x0200 + n, N x 100 ms) or, with
``pulse_timing: host``, coil on / wait / coil off. Door sensors: discrete inputs read with FC 02
(input set = door open, unless ``feedback_invert``), always asked for a multiple of 8 inputs
because LC Technology boards answer only that.
"""

from __future__ import annotations

import time

from lockers.errors import BoardError
from lockers.hardware.board import DoorState, LockAddress
from lockers.hardware.boards.base import PulseRefused, SerialBoard, log
from lockers.hardware.protocols import modbus
from lockers.hardware.protocols.framing import FrameError, hex_bytes, scan
from lockers.hardware.transport import PortLost


class ModbusBoard(SerialBoard):
    protocol = "modbus"
    default_baudrate = modbus.BAUDRATE
    board_range = (1, 247)
    channel_range = (1, 64)

    @classmethod
    def _board_hint(cls) -> str:
        return "set board: to the Modbus address (Waveshare default 1; 0 is broadcast)"

    def _on_connect(self) -> None:
        for board in sorted(self._channels):
            try:
                self._write_coil(board, modbus.ALL_COILS, modbus.COIL_OFF)
            except PortLost:
                raise
            except BoardError as exc:
                log.warning("board %d: all-off at start-up failed: %s", board, exc.message)

    def _write_coil(self, board: int, coil: int, value: int) -> None:
        request = modbus.encode_write_coil(board, coil, value)
        self._transport.write(request)

        def find(buffer: bytes) -> tuple[bytes | None, str]:
            return scan(
                buffer,
                lambda data, start: modbus.decode_reply_at(
                    data, start, board, modbus.WRITE_SINGLE_COIL, 8
                ),
            )

        try:
            echo = self._transport.read_frame(
                find, what=f"Modbus board {board}", min_length=len(request)
            )
        except modbus.ModbusException as exc:
            raise PulseRefused(exc.message, exc.hint) from None
        if echo != request[:-2]:
            raise FrameError(
                f"Modbus board {board} echoed {hex_bytes(echo)} to {hex_bytes(request)}"
            )

    def _send_unlock(self, address: LockAddress) -> DoorState | None:
        relay = address.channel - 1
        if self.config.pulse_timing == "board":
            units = max(1, -(-self.config.pulse_ms // modbus.FLASH_UNIT_MS))
            self._write_coil(address.board, modbus.FLASH_ON_BASE + relay, units)
            return None
        self._write_coil(address.board, relay, modbus.COIL_ON)
        time.sleep(self.config.pulse_ms / 1000)
        try:
            self._write_coil(address.board, relay, modbus.COIL_OFF)
        except Exception:
            log.critical(
                "Modbus board %d relay %d may still be energised: it is switched off when the "
                "port reopens",
                address.board,
                address.channel,
            )
            raise
        return None

    def _read_board(self, board: int, channels: list[int]) -> dict[int, DoorState]:
        count = -(-max(channels) // 8) * 8
        request = modbus.encode_read(board, modbus.READ_DISCRETE_INPUTS, 0, count)
        self._transport.write(request)

        def find(buffer: bytes) -> tuple[bytes | None, str]:
            return scan(
                buffer,
                lambda data, start: modbus.decode_reply_at(
                    data, start, board, modbus.READ_DISCRETE_INPUTS, 0
                ),
            )

        body = self._transport.read_frame(
            find, what=f"Modbus board {board}", min_length=5 + count // 8
        )
        inputs = modbus.decode_read_reply(body, count)
        # Input set = door open (reed contact closes when the door opens), so closed = not set.
        return {ch: self._door_state(not inputs[ch - 1]) for ch in channels}
