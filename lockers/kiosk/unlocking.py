"""The unlock discipline shared by every service: intent committed first, board told second,
outcome recorded third, each step its own short transaction (see ARCHITECTURE.md)."""

from __future__ import annotations

import logging
from collections.abc import Callable

from lockers.errors import LockersError
from lockers.hardware.board import LockAddress, LockBoard, UnlockOutcome, UnlockResult

log = logging.getLogger(__name__)

Checkpoint = Callable[[str], None]
"""Called with a step name (``"register:claimed"``...) between steps; tests kill the process
there to prove that every crash point leaves a consistent database."""


def no_checkpoint(_step: str) -> None:
    """The default checkpoint: does nothing."""


def pulse(board: LockBoard, address: LockAddress) -> UnlockResult:
    """Ask the board once. A driver that raises is treated as UNCONFIRMED: we cannot prove the
    pulse never reached the wire, so the rental must not be dropped."""
    try:
        return board.unlock(address)
    except (LockersError, OSError) as exc:
        log.warning("unlock of %s raised %s", address, exc)
        return UnlockResult(address, UnlockOutcome.UNCONFIRMED, f"driver error: {exc}")
