"""What happens next: the customers, staff and housekeeping of one kiosk in one cycle.

Mostly registrations and retrieves, weighted by how many lockers are free (the oldest renters
come back first), with strangers and unrecognisable faces (failed recognitions), duplicate
registrations, forgetful renters (their rentals expire), staff resetting flagged lockers and
taking lockers out of service and back, and the kiosk's expiry housekeeping.
"""

from __future__ import annotations

import random
from typing import Any

from lockers.hardware.emulator.handlers import FIRST_ADDRESS
from lockers.soak.ledger import Ledger
from lockers.soak.ops import Op, OpKind
from lockers.soak.options import SoakOptions
from lockers.soak.people import BAD_NOISE, GOOD_NOISE, STRANGER_BASE

KILL_STEPS = {
    OpKind.REGISTER: (
        "register:claimed",
        "register:templates_added",
        "register:committed",
        "register:pulsed",
    ),
    OpKind.RETRIEVE: ("retrieve:committed", "retrieve:pulsed", "retrieve:ended"),
    OpKind.STAFF_RESET: ("force_open:committed", "reset:ended", "reset:committed"),
}


class OpMix:
    """Chooses each kiosk's next :class:`Op` from the ledger and the lockers' states."""

    def __init__(self, options: SoakOptions, rng: random.Random, ledger: Ledger) -> None:
        self.options, self.rng, self.ledger = options, rng, ledger
        self._next_person = 0
        self._next_stranger = STRANGER_BASE
        self._forgetful: set[int] = set()
        self._seq = 0

    def choose(
        self,
        kiosk: int,
        cycle: int,
        sim_s: float,
        free: list[str],
        flagged: set[str],
        oos: list[str],
        busy: set[object],
    ) -> Op:
        o, rng = self.options, self.rng
        self._seq += 1

        def op(kind: OpKind, **kw: Any) -> Op:
            return Op(self._seq, kind, sim_s, **kw)

        if kiosk == 0 and cycle % max(1, o.expire_every) == 0:
            return op(OpKind.EXPIRE)
        staff_work = sorted((flagged | self.ledger.staff_pending) - {str(b) for b in busy})
        if staff_work and rng.random() < 0.5:
            label = rng.choice(staff_work)
            busy.add(label)
            return op(OpKind.STAFF_RESET, label=label)
        if rng.random() < o.staff_rate:
            if oos and (len(oos) >= 2 or rng.random() < 0.5):
                label = rng.choice(oos)
                if label not in busy:
                    busy.add(label)
                    return op(OpKind.STAFF_BACK_IN_SERVICE, label=label)
            candidates = [label for label in free if label not in busy]
            if candidates:
                label = rng.choice(candidates)
                busy.add(label)
                return op(OpKind.STAFF_OUT_OF_SERVICE, label=label)
        renters = [
            person
            for label, person in sorted(self.ledger.contents.items(), key=lambda kv: int(kv[0]))
            if person not in busy and person not in self._forgetful and label not in flagged
        ]
        roll = rng.random()
        if roll < o.stranger_rate:
            self._next_stranger += 1
            return op(OpKind.RETRIEVE, person=self._next_stranger, noise=GOOD_NOISE)
        roll -= o.stranger_rate
        if renters and roll < o.duplicate_rate:
            person = rng.choice(renters)
            busy.add(person)
            return op(OpKind.REGISTER, person=person)
        roll -= o.duplicate_rate
        if renters and roll < o.bad_face_rate:
            person = rng.choice(renters)
            busy.add(person)
            return op(OpKind.RETRIEVE, person=person, noise=BAD_NOISE)
        share_free = len(free) / max(1, o.lockers)
        if not renters or (free and rng.random() < share_free):
            person = self._next_person
            self._next_person += 1
            if rng.random() < o.forgetful_rate:
                self._forgetful.add(person)
            busy.add(person)
            return op(OpKind.REGISTER, person=person, crowded_first=rng.random() < 0.1)
        person = renters[0] if rng.random() < 0.7 else rng.choice(renters)  # mostly oldest
        busy.add(person)
        return op(OpKind.RETRIEVE, person=person, crowded_first=rng.random() < 0.1)

    def fault_target(self, op: Op, free: list[str]) -> tuple[int, int]:
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
            label = str(self.rng.randint(1, self.options.lockers))
        return FIRST_ADDRESS[self.options.protocol], int(label)
