"""The serial ports this machine has, with USB ids and what such an adapter usually is."""

from __future__ import annotations

from dataclasses import dataclass

# Adapters met on lock installations; the id alone cannot tell an LCUS module from a CH340 cable.
KNOWN_ADAPTERS = {
    (0x1A86, 0x7523): "CH340: LCUS relay modules and many USB-RS485 adapters",
    (0x1A86, 0x55D3): "CH343 USB-serial",
    (0x0403, 0x6001): "FTDI FT232R USB-serial / RS-485",
    (0x0403, 0x6015): "FTDI FT-X USB-serial / RS-485",
    (0x10C4, 0xEA60): "Silicon Labs CP210x USB-serial",
    (0x067B, 0x2303): "Prolific PL2303 USB-serial",
    (0x2A19, 0x0C05): "Numato USB relay module",
}


@dataclass(frozen=True)
class SerialPortInfo:
    """One port. ``vid``/``pid`` are ``None`` for non-USB ports."""

    device: str
    description: str
    vid: int | None
    pid: int | None
    serial_number: str | None
    by_id: str | None  # a stable /dev/serial/by-id path to put in config.yaml, if any

    @property
    def usb_id(self) -> str:
        return f"{self.vid:04X}:{self.pid:04X}" if self.vid is not None and self.pid else "-"

    @property
    def known_as(self) -> str:
        if self.vid is None or self.pid is None:
            return ""
        return KNOWN_ADAPTERS.get((self.vid, self.pid), "")


def list_serial_ports() -> list[SerialPortInfo]:
    """Every serial port pyserial finds, sorted by device path."""
    from pathlib import Path

    from serial.tools import list_ports

    by_id: dict[str, str] = {}
    folder = Path("/dev/serial/by-id")
    if folder.is_dir():
        for link in folder.iterdir():
            by_id[str(link.resolve())] = str(link)
    ports = [
        SerialPortInfo(
            device=port.device,
            description=port.description or "",
            vid=port.vid,
            pid=port.pid,
            serial_number=port.serial_number,
            by_id=by_id.get(str(Path(port.device).resolve())),
        )
        for port in list_ports.comports()
    ]
    return sorted(ports, key=lambda p: p.device)
