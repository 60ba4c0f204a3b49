"""Pure codecs of the board protocols: bytes in, values out, checksums checked. No I/O.

Each module encodes requests and replies and decodes both, so the drivers use one direction and
the emulator the other. Frames and checksums follow ``docs/protocols.md``.
"""

from lockers.hardware.protocols.framing import FrameError, hex_bytes

__all__ = ["FrameError", "hex_bytes"]
