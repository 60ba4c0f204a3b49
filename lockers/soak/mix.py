"""What happens next: the customers, staff and housekeeping of one kiosk in one cycle.

Mostly registrations and retrieves, weighted by how many lockers are free (the oldest renters
come back first), with strangers and unrecognisable faces (failed recognitions), duplicate
registrations, forgetful renters (their rentals expire), staff resetting flagged lockers and
taking lockers out of service and back, and the kiosk's expiry housekeeping.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from lockers.hardware.emulator.handlers import FIRST_ADDRESS
from lockers.soak.ledger import Ledger
from lockers.soak.ops import Op, OpKind
from lockers.soak.options import SoakOptions
from lockers.soak.people import BAD_NOISE, GOOD_NOISE, STRANGER_BASE
from lockers.soak.plan import KILL_STEPS as KILL_STEPS  # where the kill points used to live
from lockers.store.inspection import LockerState


@dataclass(frozen=True)
class LockerView:
    """The lockers as the database has them at the start of a cycle."""

    free: list[str]  # a registration may get one of these
    flagged: set[str]  # staff must look at these
    out_of_service: list[str]

    @classmethod
    def of(cls, rows: Sequence[LockerState]) -> LockerView:
        return cls(
            free=[lk.label for lk in rows if lk.status == "available" and lk.attention is None],
            flagged={lk.label for lk in rows if lk.attention is not None},
            out_of_service=[lk.label for lk in rows if lk.status == "out_of_service"],
        )


class OpMix:
    """Chooses each kiosk's next :class:`Op` from the ledger and the lockers' states."""

    def __init__(self, options: SoakOptions, ledger: Ledger) -> None:
        self.options, self.ledger = options, ledger
        self._sim_s = 0.0
        self._next_person = 0
        self._next_stranger = STRANGER_BASE
        self._forgetful: set[int] = set()
        self._seq = 0

    def choose(
        self,
        rng: random.Random,
        kiosk: int,
        cycle: int,
        sim_s: float,
        lockers: LockerView,
        busy: set[object],
    ) -> Op:
        """The next op of ``kiosk``: housekeeping, staff work, or a customer; ``busy`` holds
        the people and lockers other kiosks already got this cycle (and gets this op's)."""
        self._seq += 1
        self._sim_s = sim_s
        if kiosk == 0 and cycle % max(1, self.options.expire_every) == 0:
            return self._op(OpKind.EXPIRE)
        staff = self._staff(rng, kiosk, lockers, busy)
        return staff if staff is not None else self._customer(rng, lockers, busy)

    def _op(self, kind: OpKind, **kw: Any) -> Op:
        return Op(self._seq, kind, self._sim_s, **kw)

    def _staff_op(self, kiosk: int, kind: OpKind, action: str, label: str) -> Op:
        """``kind`` on this kiosk's own locker, a site command ``action`` on another bank's."""
        bank = self.ledger.bank_of
        if not bank or bank.get(label) == kiosk:
            return self._op(kind, label=label)
        return self._op(OpKind.COMMAND, label=label, action=action)

    def _staff(
        self, rng: random.Random, kiosk: int, lockers: LockerView, busy: set[object]
    ) -> Op | None:
        staff_work = sorted((lockers.flagged | self.ledger.staff_pending) - {str(b) for b in busy})
        if staff_work and rng.random() < 0.5:
            label = rng.choice(staff_work)
            busy.add(label)
            return self._staff_op(kiosk, OpKind.STAFF_RESET, "reset", label)
        if rng.random() < self.options.command_rate:
            look = self._look_inside(rng, kiosk, lockers, busy)
            if look is not None:
                return look
        if rng.random() >= self.options.staff_rate:
            return None
        oos = lockers.out_of_service
        if oos and (len(oos) >= 2 or rng.random() < 0.5):
            label = rng.choice(oos)
            if label not in busy:
                busy.add(label)
                return self._staff_op(kiosk, OpKind.STAFF_BACK_IN_SERVICE, "back_in_service", label)
        candidates = [label for label in lockers.free if label not in busy]
        if candidates:
            label = rng.choice(candidates)
            busy.add(label)
            return self._staff_op(kiosk, OpKind.STAFF_OUT_OF_SERVICE, "out_of_service", label)
        return None

    def _look_inside(
        self, rng: random.Random, kiosk: int, lockers: LockerView, busy: set[object]
    ) -> Op | None:
        """Staff here open an occupied locker of another bank (its renter is kept away)."""
        bank, contents = self.ledger.bank_of, self.ledger.contents
        occupied = [
            label
            for label in sorted(contents)
            if bank.get(label, kiosk) != kiosk
            and label not in busy
            and contents[label] not in busy
            and label not in lockers.flagged
        ]
        if not occupied:
            return None
        label = rng.choice(occupied)
        busy.update((label, contents[label]))
        return self._op(OpKind.COMMAND, label=label, action="open")

    def _customer(self, rng: random.Random, lockers: LockerView, busy: set[object]) -> Op:
        o = self.options
        renters = [
            person
            for label, person in sorted(self.ledger.contents.items(), key=lambda kv: int(kv[0]))
            if person not in busy and person not in self._forgetful and label not in lockers.flagged
        ]
        roll = rng.random()
        if roll < o.stranger_rate:
            self._next_stranger += 1
            return self._op(OpKind.RETRIEVE, person=self._next_stranger, noise=GOOD_NOISE)
        roll -= o.stranger_rate
        if renters and roll < o.duplicate_rate:
            person = rng.choice(renters)
            busy.add(person)
            return self._op(OpKind.REGISTER, person=person)
        roll -= o.duplicate_rate
        if renters and roll < o.bad_face_rate:
            person = rng.choice(renters)
            busy.add(person)
            return self._op(OpKind.RETRIEVE, person=person, noise=BAD_NOISE)
        share_free = len(lockers.free) / max(1, o.lockers)
        if not renters or (lockers.free and rng.random() < share_free):
            person = self._next_person
            self._next_person += 1
            if rng.random() < o.forgetful_rate:
                self._forgetful.add(person)
            busy.add(person)
            return self._op(OpKind.REGISTER, person=person, crowded_first=rng.random() < 0.1)
        person = renters[0] if rng.random() < 0.7 else rng.choice(renters)  # mostly oldest
        busy.add(person)
        return self._op(OpKind.RETRIEVE, person=person, crowded_first=rng.random() < 0.1)

    def fault_target(self, rng: random.Random, op: Op, free: list[str]) -> tuple[int, int]:
        """The lock a jam or a forced door should hit: the one this op will probably open."""
        label = None
        if op.kind is OpKind.RETRIEVE and op.person is not None:
            held = self.ledger.holdings(op.person)
            label = held[0] if held else None
        elif op.kind is OpKind.REGISTER and free:
            label = free[0]
        elif op.label is not None:
            label = op.label
        if label is None:
            label = str(rng.randint(1, self.options.lockers))
        return FIRST_ADDRESS[self.options.protocol], int(label)
