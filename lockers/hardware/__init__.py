"""Lock and relay boards over serial lines, and an emulator that speaks their protocols.

The kiosk depends only on :class:`~lockers.hardware.board.LockBoard`; :func:`open_board` builds
the driver for ``config.board`` (``lockers.hardware.boards``). Importing this package does not
import pyserial.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from lockers.hardware.board import (
    DoorEvent,
    DoorEventKind,
    DoorState,
    LockAddress,
    LockBoard,
    UnlockOutcome,
    UnlockResult,
)

if TYPE_CHECKING:
    from lockers.hardware.boards import open_board as open_board

# A library stays quiet unless the application configures logging.
logging.getLogger("lockers.hardware").addHandler(logging.NullHandler())


def __getattr__(name: str) -> Any:
    if name == "open_board":
        from lockers.hardware.boards import open_board

        return open_board
    raise AttributeError(name)


__all__ = [
    "DoorEvent",
    "DoorEventKind",
    "DoorState",
    "LockAddress",
    "LockBoard",
    "UnlockOutcome",
    "UnlockResult",
    "open_board",
]
