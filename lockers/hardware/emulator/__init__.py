"""A board emulator on a pseudo-terminal: the real drivers talk to it byte for byte."""

from lockers.hardware.emulator.commands import COMMANDS_HELP
from lockers.hardware.emulator.emulator import BoardEmulator

__all__ = ["COMMANDS_HELP", "BoardEmulator"]
