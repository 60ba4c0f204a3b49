"""Kerong KR-CU12/CU16-style lock-control boards: 16 locks per board, boards 0-15 on a bus.

Whether a board answers an unlock is unconfirmed (docs/protocols.md, Kerong), so the driver
listens for a status reply for one poll interval and treats silence as normal; the detection
window's polls decide. A garbled reply is not silence: the board heard the pulse, and the reading
it carried is lost, so it is reported like any failed exchange after the write. Hook bit set =
lock closed (unless ``feedback_invert``).
"""

from __future__ import annotations

from lockers.errors import BoardTimeout
from lockers.hardware.board import DoorState, LockAddress
from lockers.hardware.boards.base import SerialBoard, log
from lockers.hardware.protocols import kerong
from lockers.hardware.protocols.framing import scan


class KerongBoard(SerialBoard):
    protocol = "kerong"
    default_baudrate = kerong.BAUDRATE
    board_range = (0, kerong.MAX_BOARD)
    channel_range = (1, kerong.LOCKS_PER_BOARD)

    def _status(self, board: int, timeout_s: float | None = None) -> kerong.Status:
        def find(buffer: bytes) -> tuple[kerong.Status | None, str]:
            return scan(buffer, lambda data, start: kerong.decode_status_at(data, start, board))

        return self._transport.read_frame(
            find,
            what=f"Kerong board {board}",
            timeout_s=timeout_s,
            min_length=kerong.REPLY_LENGTH,
        )

    def _send_unlock(self, address: LockAddress) -> DoorState | None:
        self._transport.write(kerong.encode_unlock(address.board, address.channel))
        wait_s = min(self.config.reply_timeout_s, self.config.poll_interval_s)
        try:
            status = self._status(address.board, timeout_s=wait_s)
        except BoardTimeout as exc:  # many boards do not answer an unlock at all
            log.debug("no status reply to the unlock of %s: %s", address, exc.message)
            return None
        return self._door_state(status.hooks_closed[address.channel - 1])

    def _read_board(self, board: int, channels: list[int]) -> dict[int, DoorState]:
        self._transport.write(kerong.encode_status_request(board))
        status = self._status(board)
        return {ch: self._door_state(status.hooks_closed[ch - 1]) for ch in channels}
