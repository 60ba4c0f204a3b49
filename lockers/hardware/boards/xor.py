"""The generic 0x8A/0x80 XOR lock board: boards 1-31, query-all replies ended by line silence."""

from __future__ import annotations

from lockers.hardware.board import DoorState, LockAddress
from lockers.hardware.boards.base import SerialBoard
from lockers.hardware.protocols import xor
from lockers.hardware.protocols.framing import FrameError, hex_bytes, scan


class XorBoard(SerialBoard):
    protocol = "xor"
    default_baudrate = xor.BAUDRATE
    board_range = (1, xor.MAX_BOARD)
    channel_range = (1, 64)

    def _send_unlock(self, address: LockAddress) -> DoorState | None:
        self._transport.write(xor.encode_unlock(address.board, address.channel))

        def find(buffer: bytes) -> tuple[xor.LockReply | None, str]:
            return scan(
                buffer,
                lambda data, start: xor.decode_lock_reply_at(
                    data, start, xor.UNLOCK_HEADER, address.board, address.channel
                ),
            )

        # The board answers 0.5-1 s after the pulse with the lock's state.
        reply = self._transport.read_frame(find, what=f"XOR board {address.board}", min_length=5)
        if reply.status == xor.STATUS_OPEN:
            return self._door_state(False)
        if reply.status == xor.STATUS_CLOSED:
            return self._door_state(True)
        return None

    def _read_board(self, board: int, channels: list[int]) -> dict[int, DoorState]:
        self._transport.write(xor.encode_query(board))
        answer = self._transport.read_until_quiet(what=f"XOR board {board}")
        closed, why = scan(answer, lambda data, start: _decode_all_at(data, start, board))
        if closed is None:
            raise FrameError(
                f"XOR board {board} sent an invalid status reply on {self.port}: "
                f"{why or 'unrecognised bytes'} (received {hex_bytes(answer[:64])})",
                hint="check the protocol and baud rate in config.yaml, and for noise on the bus",
            )
        if len(closed) < max(channels):
            raise FrameError(
                f"XOR board {board} reports {len(closed)} locks, but channel {max(channels)} "
                "is configured",
                hint="check the lockers' channel numbers against the board's size",
            )
        return {ch: self._door_state(closed[ch - 1]) for ch in channels}


def _decode_all_at(data: bytes, start: int, board: int) -> list[bool] | None:
    if data[start] != xor.QUERY_HEADER or len(data) - start < 5 or data[start + 1] != board:
        return None
    return xor.decode_all_reply(data[start:], board)
