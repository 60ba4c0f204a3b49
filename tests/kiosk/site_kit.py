"""Two kiosks of one site on one database: each with its own config, bank, board and services."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml
from lockers_storekit import LOCKERS, ScriptedBoard

from lockers.config import Settings, load_settings
from lockers.hardware.board import LockBoard
from lockers.kiosk.presence import identity_of
from lockers.kiosk.rental_service import RentalService
from lockers.kiosk.site_agent import SiteAgent
from lockers.kiosk.staff_service import StaffService
from lockers.kiosk.startup import Store, start_store

PIN = "246810"
KIOSKS = {
    "kiosk-a": ("A-", "Men's changing room", "1F, east"),
    "kiosk-b": ("B-", "Women's changing room", "1F, west"),
}


def kiosk_settings(
    tmp_path: Path, url: str, kiosk_id: str, *, key_dir: str = "keys", ttl_s: float = 30.0
) -> Settings:
    prefix, name, location = KIOSKS.get(kiosk_id, ("Z-", kiosk_id, ""))
    data = {
        "data_dir": str(tmp_path / kiosk_id),
        "database": {"url": url, "busy_timeout_s": 20, "kiosk_id": kiosk_id},
        "board": {"port": "emulator", "protocol": "kerong"},
        "lockers": LOCKERS,
        "privacy": {"template_key_file": str(tmp_path / key_dir / "template.key")},
        "recognition": {"frames_to_agree": 2, "frames_window": 3},
        "site": {
            "label_prefix": prefix,
            "display_name": name,
            "location": location,
            "command_ttl_s": ttl_s,
        },
    }
    path = tmp_path / f"{kiosk_id}.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return load_settings(path)


@dataclass
class SiteKiosk:
    """One kiosk: its settings, store (registered), board, services and site agent."""

    settings: Settings
    store: Store
    board: LockBoard
    rental: RentalService
    staff: StaffService
    agent: SiteAgent

    @property
    def kiosk_id(self) -> str:
        return self.settings.database.kiosk_id

    def close(self) -> None:
        self.store.close()


def start_kiosk(settings: Settings, board: LockBoard | None = None) -> SiteKiosk:
    """Start a kiosk as the app does: registered, its bank synced, keys checked."""
    store, _report = start_store(settings, identity=identity_of(settings, version="test"))
    board = board if board is not None else ScriptedBoard()
    rental = RentalService.from_settings(settings, store.database, board, store.cipher)
    staff = StaffService(
        store.database,
        board,
        kiosk_id=settings.database.kiosk_id,
        pin_secret=store.pin_secret,
        command_ttl_s=settings.site.command_ttl_s,
    )
    if store.presence is None:
        raise RuntimeError("start_store did not register the kiosk")
    agent = SiteAgent.create(store.database, board, store.presence)
    return SiteKiosk(settings, store, board, rental, staff, agent)
