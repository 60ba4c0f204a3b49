"""Each protocol's request parser and reply builder on the board side (the codecs in reverse).

A handler consumes complete requests from the front of the receive buffer, acts on the model and
returns the replies to send. Bytes that cannot start a request are dropped one at a time, as a
board's UART resynchronises on noise.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from lockers.hardware.emulator.model import EmulatedBoard
from lockers.hardware.protocols import kerong, lcus, modbus, xor
from lockers.hardware.protocols.framing import FrameError


@dataclass(frozen=True)
class Reply:
    """A reply from ``board``, built when it is sent (after ``delay_s``) so it shows that moment."""

    board: int
    delay_s: float
    build: Callable[[], bytes]


class Handler:
    """Base: ``feed`` parses what it can and returns the replies."""

    default_channels = 16

    def __init__(self, boards: dict[int, EmulatedBoard], *, feedback_invert: bool = False) -> None:
        self.boards = boards
        self.feedback_invert = feedback_invert
        self.pulse_s = 0.2
        self.unlock_reply_delay_s = 0.0

    def feed(self, buffer: bytearray, now: float) -> list[Reply]:
        replies: list[Reply] = []
        while buffer:
            try:
                result = self._parse(buffer, now)
            except FrameError:
                del buffer[0]
                continue
            if result is None:
                break
            consumed, new = result
            del buffer[:consumed]
            replies.extend(new)
        return replies

    def _parse(self, buffer: bytearray, now: float) -> tuple[int, list[Reply]] | None:
        """``(bytes consumed, replies)``, ``None`` if incomplete; FrameError drops one byte."""
        raise NotImplementedError

    def _board(self, address: int) -> EmulatedBoard | None:
        board = self.boards.get(address)
        return None if board is None or board.offline else board

    def _closed_bits(self, board: EmulatedBoard) -> list[bool]:
        return [(not lock.door_open) != self.feedback_invert for lock in board.locks]


class LcusHandler(Handler):
    default_channels = 8

    def _parse(self, buffer: bytearray, now: float) -> tuple[int, list[Reply]] | None:
        board = self._board(0)
        if buffer[0] == lcus.STATUS_REQUEST[0]:
            if board is None:
                return 1, []
            return 1, [Reply(0, 0.0, lambda: lcus.encode_status([x.relay_on for x in board.locks]))]
        if buffer[0] != lcus.START:
            raise FrameError("not a request start")
        if len(buffer) < 4:
            return None
        channel, on = lcus.decode_switch(bytes(buffer[:4]))
        if board is not None and 1 <= channel <= board.channels:
            board.set_relay(channel, on, now)
        return 4, []  # LCUS modules never acknowledge a command


class ModbusHandler(Handler):
    default_channels = 8

    def _parse(self, buffer: bytearray, now: float) -> tuple[int, list[Reply]] | None:
        length = modbus.request_length(bytes(buffer))
        if length is None or len(buffer) < length:
            return None
        request = modbus.decode_request(bytes(buffer[:length]))
        targets = (
            [b for b in self.boards.values() if not b.offline]
            if request.address == 0
            else [b for b in [self._board(request.address)] if b is not None]
        )
        replies = [self._serve(board, request, bytes(buffer[:length]), now) for board in targets]
        if request.address == 0:  # broadcasts are never answered
            return length, []
        return length, [r for r in replies if r is not None]

    def _serve(
        self, board: EmulatedBoard, req: modbus.Request, raw: bytes, now: float
    ) -> Reply | None:
        address, function = board.address, req.function

        def exception(code: int) -> Reply:
            return Reply(address, 0.0, lambda: modbus.encode_exception(address, function, code))

        span = -(-board.channels // 8) * 8  # LC boards are read in whole bytes
        if function in (modbus.READ_COILS, modbus.READ_DISCRETE_INPUTS):
            if req.value < 1 or req.start + req.value > span:
                return exception(2)

            def bits() -> bytes:
                if function == modbus.READ_COILS:
                    values = [lock.relay_on for lock in board.locks]
                else:  # discrete input set = door open
                    values = [not c for c in self._closed_bits(board)]
                values += [False] * (span - len(values))
                return modbus.encode_read_reply(
                    address, function, values[req.start : req.start + req.value]
                )

            return Reply(address, 0.0, bits)
        if function == modbus.WRITE_SINGLE_COIL:
            coil, value = req.start, req.value
            if coil == modbus.ALL_COILS and value in (modbus.COIL_ON, modbus.COIL_OFF):
                for channel in range(1, board.channels + 1):
                    board.set_relay(channel, value == modbus.COIL_ON, now)
            elif coil < board.channels and value in (modbus.COIL_ON, modbus.COIL_OFF):
                board.set_relay(coil + 1, value == modbus.COIL_ON, now)
            elif modbus.FLASH_ON_BASE <= coil < modbus.FLASH_ON_BASE + board.channels:
                board.pulse(
                    coil - modbus.FLASH_ON_BASE + 1, now, value * modbus.FLASH_UNIT_MS / 1000
                )
            elif modbus.FLASH_OFF_BASE <= coil < modbus.FLASH_OFF_BASE + board.channels:
                board.set_relay(coil - modbus.FLASH_OFF_BASE + 1, False, now)
            elif coil < board.channels or coil == modbus.ALL_COILS:
                return exception(3)
            else:
                return exception(2)
            return Reply(address, 0.0, lambda: raw)  # FC 05 is answered by an echo
        if function == modbus.WRITE_MULTIPLE_COILS:
            if req.start + req.value > board.channels:
                return exception(2)
            for offset, on in enumerate(req.values):
                board.set_relay(req.start + offset + 1, on, now)
            return Reply(
                address,
                0.0,
                lambda: modbus.encode_write_multiple_reply(address, req.start, req.value),
            )
        return exception(1)


class KerongHandler(Handler):
    default_channels = kerong.LOCKS_PER_BOARD

    def _status(self, board: EmulatedBoard, command: int, delay_s: float = 0.0) -> Reply:
        def build() -> bytes:
            closed = self._closed_bits(board)
            items = [lock.item_present for lock in board.locks]
            return kerong.encode_status_reply(board.address, command, closed, items)

        return Reply(board.address, delay_s, build)

    def _parse(self, buffer: bytearray, now: float) -> tuple[int, list[Reply]] | None:
        if buffer[0] != kerong.STX:
            raise FrameError("not a request start")
        decoded = kerong.decode_request_at(bytes(buffer), 0)
        if decoded is None:
            return None
        address, command = decoded
        consumed = kerong.REQUEST_LENGTH
        if address == kerong.BROADCAST:
            if command == kerong.STATUS_ALL:
                boards = [b for b in self.boards.values() if not b.offline]
                # Boards answer one after another (a 9-byte reply lasts ~5 ms at 19200 baud).
                return consumed, [self._status(b, command, 0.01 * i) for i, b in enumerate(boards)]
            return consumed, []
        board = self._board(address >> 4)
        if board is None:
            return consumed, []
        lock_number = (address & 0x0F) + 1
        if command == kerong.STATUS:
            return consumed, [self._status(board, command)]
        if command == kerong.UNLOCK and lock_number <= board.channels:
            board.pulse(lock_number, now, self.pulse_s)
            return consumed, [self._status(board, command)]
        if command == kerong.UNLOCK_ALL:
            for channel in range(1, board.channels + 1):
                board.pulse(channel, now, self.pulse_s)
            return consumed, [self._status(board, command)]
        return consumed, []


class XorHandler(Handler):
    default_channels = 24

    def __init__(self, boards: dict[int, EmulatedBoard], *, feedback_invert: bool = False) -> None:
        super().__init__(boards, feedback_invert=feedback_invert)
        self.unlock_reply_delay_s = 0.5  # the real board answers 0.5-1 s after the pulse

    def _parse(self, buffer: bytearray, now: float) -> tuple[int, list[Reply]] | None:
        if buffer[0] not in (xor.UNLOCK_HEADER, xor.QUERY_HEADER):
            raise FrameError("not a request start")
        if len(buffer) < 5:
            return None
        header, address, lock_number = xor.decode_request(bytes(buffer[:5]))
        board = self._board(address)
        if board is None or lock_number > board.channels:
            return 5, []
        if header == xor.UNLOCK_HEADER:
            channels = [lock_number] if lock_number else list(range(1, board.channels + 1))
            for channel in channels:
                board.pulse(channel, now, self.pulse_s)
            return 5, [self._lock_reply(board, header, lock_number, self.unlock_reply_delay_s)]
        if lock_number == 0:
            return 5, [
                Reply(address, 0.0, lambda: xor.encode_all_reply(address, self._closed_bits(board)))
            ]
        return 5, [self._lock_reply(board, header, lock_number, 0.0)]

    def _lock_reply(self, board: EmulatedBoard, header: int, lock: int, delay_s: float) -> Reply:
        def build() -> bytes:
            closed = (
                all(self._closed_bits(board)) if lock == 0 else self._closed_bits(board)[lock - 1]
            )
            return xor.encode_lock_reply(header, board.address, lock, closed)

        return Reply(board.address, delay_s, build)


HANDLERS: dict[str, type[Handler]] = {
    "lcus": LcusHandler,
    "modbus": ModbusHandler,
    "kerong": KerongHandler,
    "xor": XorHandler,
}

FIRST_ADDRESS = {"lcus": 0, "modbus": 1, "kerong": 0, "xor": 1}
