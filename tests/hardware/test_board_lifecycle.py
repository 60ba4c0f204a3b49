"""Closing a board and reading its health: never touch a bus another transaction holds, run every
closer, read shared state under the lock."""

from __future__ import annotations

import threading
from typing import Any

from conftest import fast_config, lockers_for, make_emulator

from lockers.hardware.boards import open_board


def test_close_leaves_a_held_bus_to_its_holder_and_runs_every_closer() -> None:
    with make_emulator("kerong") as emulator:
        board = open_board(fast_config("kerong", emulator.port), lockers_for("kerong"))
        holding, release = threading.Event(), threading.Event()

        def stuck_transaction() -> None:
            with board._exchange(urgent=False, deadline=float("inf")) as got:
                assert got
                holding.set()
                release.wait(10)

        holder = threading.Thread(target=stuck_transaction)
        holder.start()
        assert holding.wait(5)
        ran: list[str] = []
        board.own(lambda: ran.append("first owned"))

        def broken_closer() -> None:
            ran.append("broken")
            raise RuntimeError("closer failed")

        board.own(broken_closer)
        board.close()  # gives up on the bus after its wait; must not raise
        assert ran == ["broken", "first owned"], "one failing closer must not stop the others"
        assert board._transport.is_open, "close() must not close a port another thread holds"
        release.set()
        holder.join()
        assert not board._transport.is_open, "the holder closes the port when it lets go"


class _CheckedDict(dict):  # type: ignore[type-arg]
    """Records whether ``lock`` was held each time the values are read."""

    def __init__(self, data: dict[Any, Any], lock: Any) -> None:
        super().__init__(data)
        self.lock = lock
        self.reads_held: list[bool] = []

    def values(self):  # type: ignore[no-untyped-def,override]
        self.reads_held.append(self.lock.locked())
        return super().values()


def test_healthy_reads_board_errors_under_the_lock() -> None:
    with (
        make_emulator("kerong") as emulator,
        open_board(fast_config("kerong", emulator.port), lockers_for("kerong")) as board,
    ):
        tracker = board._doors
        checked = _CheckedDict(tracker._board_errors, tracker._lock)
        tracker._board_errors = checked
        assert board.healthy()
        assert checked.reads_held == [True]
