"""A board emulator on a pseudo-terminal: the real drivers talk to it byte for byte."""

from lockers.hardware.emulator.emulator import COMMANDS_HELP, BoardEmulator

__all__ = ["COMMANDS_HELP", "BoardEmulator"]
