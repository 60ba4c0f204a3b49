"""What the register and retrieve steps share: one kiosk's store, door opener, recogniser,
identity and clock (built once by :class:`~lockers.kiosk.rental_service.RentalService`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from lockers.kiosk.recognition import Recogniser
from lockers.kiosk.unlocking import Checkpoint, DoorOpener
from lockers.store.crypto import TemplateCipher
from lockers.store.db import Database


@dataclass(frozen=True)
class KioskParts:
    database: Database
    opener: DoorOpener
    recogniser: Recogniser
    cipher: TemplateCipher
    kiosk_id: str
    clock: Callable[[], datetime]
    checkpoint: Checkpoint

    @property
    def actor(self) -> str:
        """This kiosk in the audit log."""
        return f"kiosk:{self.kiosk_id}"
