"""Which lock is wired where: the lockers of one bus, checked against the protocol's ranges."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from lockers.config.hardware import LockerConfig
from lockers.errors import ConfigError
from lockers.hardware.board import LockAddress


@dataclass(frozen=True)
class AddressRules:
    """What one protocol can address: inclusive board and channel ranges, and how to fix a
    board number that is out of range."""

    protocol: str
    board_range: tuple[int, int]
    channel_range: tuple[int, int]
    board_hint: str


class AddressMap:
    """The lockers on one bus: label by (board, channel), and each board's channels in order.

    Raises:
        ConfigError: a locker's board or channel is outside what the protocol can address.
    """

    def __init__(self, lockers: Sequence[LockerConfig], rules: AddressRules) -> None:
        self.labels: dict[LockAddress, str] = {}
        for locker in lockers:
            self.labels[_check(locker, rules)] = locker.label
        self.channels: dict[int, list[int]] = {}
        for address in self.labels:
            self.channels.setdefault(address.board, []).append(address.channel)
        for channels in self.channels.values():
            channels.sort()

    def __contains__(self, address: object) -> bool:
        return address in self.labels

    @property
    def addresses(self) -> list[LockAddress]:
        """Every configured lock, sorted by board then channel."""
        return sorted(self.labels, key=lambda a: (a.board, a.channel))

    @property
    def boards(self) -> list[int]:
        """The board addresses in use, ascending."""
        return sorted(self.channels)

    def label(self, address: LockAddress) -> str:
        """The locker label wired to ``address`` (KeyError if none)."""
        return self.labels[address]

    def on_board(self, board: int) -> list[LockAddress]:
        """The configured locks of one board, by channel."""
        return [LockAddress(board, channel) for channel in self.channels[board]]


def _check(locker: LockerConfig, rules: AddressRules) -> LockAddress:
    low_board, high_board = rules.board_range
    low_channel, high_channel = rules.channel_range
    if not low_board <= locker.board <= high_board:
        raise ConfigError(
            f"locker {locker.label!r}: board {locker.board} cannot be addressed by the "
            f"{rules.protocol} protocol (board addresses {low_board}-{high_board})",
            hint=rules.board_hint,
        )
    if not low_channel <= locker.channel <= high_channel:
        raise ConfigError(
            f"locker {locker.label!r}: channel {locker.channel} is outside the "
            f"{rules.protocol} protocol's range {low_channel}-{high_channel}",
            hint="set the locker's channel to the lock's terminal number on the board",
        )
    return LockAddress(locker.board, locker.channel)
