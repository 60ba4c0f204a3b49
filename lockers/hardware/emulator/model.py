"""The physical side the emulator pretends to be: relays, locks, doors and a person closing them."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class EmulatedLock:
    """One channel: its relay (solenoid), its door and the faults injected into it."""

    relay_on: bool = False
    relay_off_at: float | None = None  # board-timed pulse ends here (monotonic seconds)
    door_open: bool = False
    door_open_at: float | None = None  # the spring pushes the door open here
    door_close_at: float | None = None  # "a person" closes the door here
    jammed: bool = False  # the latch never releases: the door stays closed
    item_present: bool = False
    pulses: int = 0  # rising edges of the relay: how many times the lock was fired
    opens: int = 0  # how many times the door went from closed to open (commanded or forced)


@dataclass
class EmulatedBoard:
    """One board on the bus. ``offline``: hears nothing; ``mute``: acts but never answers."""

    address: int
    channels: int
    door_open_delay_s: float = 0.0
    door_close_after_s: float = 3.0
    offline: bool = False
    mute: bool = False
    locks: list[EmulatedLock] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.locks:
            self.locks = [EmulatedLock() for _ in range(self.channels)]

    def lock(self, channel: int) -> EmulatedLock:
        """Lock ``channel`` (1-based); IndexError outside 1..channels."""
        if not 1 <= channel <= self.channels:
            raise IndexError(f"board {self.address} has channels 1-{self.channels}, not {channel}")
        return self.locks[channel - 1]

    def set_relay(
        self, channel: int, on: bool, now: float, off_after_s: float | None = None
    ) -> None:
        """Energise or release one relay; a rising edge releases the latch (unless jammed)."""
        lock = self.lock(channel)
        if on and not lock.relay_on:
            lock.pulses += 1
            if not lock.jammed and not lock.door_open:
                lock.door_open_at = now + self.door_open_delay_s
        lock.relay_on = on
        lock.relay_off_at = now + off_after_s if on and off_after_s is not None else None

    def pulse(self, channel: int, now: float, duration_s: float) -> None:
        """A board-timed pulse: on now, off after ``duration_s``."""
        self.set_relay(channel, True, now, duration_s)

    def force_open(self, channel: int, now: float) -> None:
        """The door opens with no command (pried open, or the latch failed)."""
        lock = self.lock(channel)
        lock.opens += 0 if lock.door_open else 1
        lock.door_open = True
        lock.door_open_at = None
        lock.door_close_at = now + self.door_close_after_s

    def tick(self, now: float) -> None:
        """Advance time: end board-timed pulses, open released doors, close doors again."""
        for lock in self.locks:
            if lock.relay_off_at is not None and now >= lock.relay_off_at:
                lock.relay_on, lock.relay_off_at = False, None
            if lock.door_open_at is not None and now >= lock.door_open_at:
                lock.opens += 0 if lock.door_open else 1
                lock.door_open, lock.door_open_at = True, None
                lock.door_close_at = now + self.door_close_after_s
            if lock.door_close_at is not None and now >= lock.door_close_at:
                lock.door_open, lock.door_close_at = False, None

    def next_event(self) -> float | None:
        """The earliest pending time in the model (to sleep until), or ``None``."""
        times = [
            t
            for lock in self.locks
            for t in (lock.relay_off_at, lock.door_open_at, lock.door_close_at)
            if t is not None
        ]
        return min(times, default=None)
