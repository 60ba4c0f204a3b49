"""The seeded choices of one cycle, drawn so that ``--seed`` replays them.

Every cycle draws its faults from its own random stream, named by the seed and the cycle number,
in a fixed order and a fixed number of draws whatever the state of the lockers: which kiosk gets
which board fault, whether and where a kiosk is killed, whether the database fails and when. The
same seed therefore gives the same fault sequence cycle by cycle, even when timing (a late reply,
a kill that landed a moment earlier) made an earlier cycle end differently. The customers and
staff of a kiosk in a cycle come from a second stream of that (seed, cycle, kiosk), so the same
state meets the same choices.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from lockers.soak.faults import BOARD_FAULTS
from lockers.soak.ops import OpKind

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
# Where the owning kiosk dies while it runs another kiosk's staff command (its site agent):
# claimed, the door's intent committed, pulsed, the reset's rental ended, executed (unrecorded).
COMMAND_KILL_STEPS = (
    "command:claimed",
    "force_open:committed",
    "force_open:pulsed",
    "reset:ended",
    "command:executed",
)


def stream(seed: int, *names: object) -> random.Random:
    """A random stream of its own for ``(seed, *names)`` (string seeds hash the same in every
    process and Python run)."""
    return random.Random("/".join(str(part) for part in (seed, *names)))


@dataclass(frozen=True)
class KioskFaults:
    """What strikes one kiosk in one cycle."""

    kill_at_step: bool  # die at one of the op's named steps (when the op has any)
    step_pick: float  # which of them: an index fraction in [0, 1)
    board_fault: str | None  # one of BOARD_FAULTS, or none
    board_seed: int  # the board fault's own draws (how many bad replies, how late)

    def die_at(self, kind: OpKind) -> str | None:
        steps = KILL_STEPS.get(kind)
        if not self.kill_at_step or not steps:
            return None
        return steps[min(len(steps) - 1, int(self.step_pick * len(steps)))]


@dataclass(frozen=True)
class CyclePlan:
    """The faults of one cycle (see the module docstring)."""

    cycle: int
    kiosks: tuple[KioskFaults, ...]
    random_kill: int | None  # the kiosk killed at a random moment during its op, if any
    random_kill_pick: float  # when: a fraction of the op's window
    db_fault: bool
    db_fault_delay_s: float
    command_kills: tuple[str | None, ...] = ()  # per kiosk: Op.die_at_command
    outage: int | None = None  # the kiosk stopped (or killed) and kept offline after the cycle
    outage_kill: bool = False  # SIGKILL rather than a clean stop

    def describe(self) -> dict[str, Any]:
        """The plan as plain data (the JSON's ``choices``)."""
        return {
            "cycle": self.cycle,
            "kill_at_step": [k.kill_at_step for k in self.kiosks],
            "board_faults": [k.board_fault for k in self.kiosks],
            "random_kill": self.random_kill,
            "db_fault": self.db_fault,
            "command_kills": list(self.command_kills),
            "outage": self.outage,
        }


def plan_cycle(
    seed: int,
    cycle: int,
    kiosks: int,
    *,
    killable: bool,
    sigkill_rate: float,
    board_fault_rate: float,
    db_fault_rate: float,
    outage_rate: float = 0.0,
) -> CyclePlan:
    """Draw one cycle's faults: always the same draws, in the same order."""
    rng = stream(seed, cycle, "faults")
    db_fault = rng.random() < db_fault_rate
    db_delay = rng.uniform(0.0, 0.04)  # before or while the cycle's ops run
    per_kiosk = []
    for _ in range(kiosks):
        kill = rng.random() < sigkill_rate / 2
        pick = rng.random()
        fault_roll, kind = rng.random(), rng.choice(BOARD_FAULTS)
        per_kiosk.append(
            KioskFaults(
                kill_at_step=killable and kill,
                step_pick=pick,
                board_fault=kind if fault_roll < board_fault_rate else None,
                board_seed=rng.getrandbits(32),
            )
        )
    kill_roll, victim, when = rng.random(), rng.randrange(kiosks), rng.random()
    random_kill = victim if killable and kill_roll < min(1.0, sigkill_rate / 2 * kiosks) else None
    # Drawn after the faults above, so adding them left those draws as they were.
    command_kills = []
    for _ in range(kiosks):
        roll, pick = rng.random(), rng.randrange(len(COMMAND_KILL_STEPS))
        # Armed until the kiosk's next op, it strikes only if a command for its bank runs
        # meanwhile: armed twice as often as an op's own kill.
        armed = killable and roll < min(1.0, sigkill_rate * 2)
        command_kills.append(COMMAND_KILL_STEPS[pick] if armed else None)
    outage_roll, outage_victim, outage_kill = rng.random(), rng.randrange(kiosks), rng.random()
    return CyclePlan(
        cycle,
        tuple(per_kiosk),
        random_kill,
        when,
        db_fault,
        db_delay,
        tuple(command_kills),
        outage_victim if killable and kiosks > 1 and outage_roll < outage_rate else None,
        outage_kill < 0.5,
    )
