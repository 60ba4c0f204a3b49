"""LCUS USB relay modules: host-timed pulse, no door feedback, all relays off on (re)connect."""

from __future__ import annotations

import time

from lockers.hardware.board import DoorState, LockAddress
from lockers.hardware.boards.base import SerialBoard, log
from lockers.hardware.protocols import lcus
from lockers.hardware.protocols.framing import FrameError


class LcusBoard(SerialBoard):
    """One LCUS-1..16 module per port (board 0). Its relays have no feedback inputs, so every
    door is ``UNKNOWN`` and an unlock ends ``UNCONFIRMED`` ("pulse sent"); the status request
    only tells whether the module is alive."""

    protocol = "lcus"
    default_baudrate = lcus.BAUDRATE
    board_range = (0, 0)
    channel_range = (1, lcus.MAX_CHANNEL)
    has_door_feedback = False

    @classmethod
    def _board_hint(cls) -> str:
        return "an LCUS module has no bus address: use board: 0 (one module per port)"

    def _on_connect(self) -> None:
        # A host crash between "on" and "off" leaves a lock energised: switch everything off.
        for channel in self._channels.get(0, []):
            self._transport.write(lcus.encode_switch(channel, False))

    def _send_unlock(self, address: LockAddress) -> DoorState | None:
        self._transport.write(lcus.encode_switch(address.channel, True))
        time.sleep(self.config.pulse_ms / 1000)
        try:
            self._transport.write(lcus.encode_switch(address.channel, False))
        except Exception:
            log.critical(
                "LCUS relay %d may still be energised on %s: it is switched off when the port "
                "reopens",
                address.channel,
                self.port,
            )
            raise
        return None

    def _read_board(self, board: int, channels: list[int]) -> dict[int, DoorState]:
        self._transport.write(lcus.STATUS_REQUEST)
        answer = self._transport.read_until_quiet(what=f"LCUS module on {self.port}")
        try:
            lcus.decode_status(answer)
        except FrameError as exc:
            raise FrameError(
                f"LCUS module on {self.port} sent an invalid status answer: {exc.message}",
                hint="check protocol and baud rate (9600) in config.yaml",
            ) from None
        return dict.fromkeys(channels, DoorState.UNKNOWN)
