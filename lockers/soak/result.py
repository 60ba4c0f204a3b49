"""The figures of one soak run."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from lockers.soak.faults import BOARD_FAULTS
from lockers.soak.ledger import INVARIANTS
from lockers.soak.options import SoakOptions


@dataclass
class SoakResult:
    """Figures of one run (``to_dict`` for ``--json``)."""

    options: dict[str, Any]
    cycles: int = 0
    elapsed_s: float = 0.0
    stopped_because: str = ""
    ops: Counter[str] = field(default_factory=Counter)
    faults: Counter[str] = field(default_factory=Counter)
    violations: dict[str, int] = field(default_factory=lambda: dict.fromkeys(INVARIANTS, 0))
    examples: list[str] = field(default_factory=list)
    registrations: dict[str, int] = field(default_factory=dict)
    restarts: int = 0
    startup_findings: Counter[str] = field(default_factory=Counter)
    board_alerts: Counter[str] = field(default_factory=Counter)
    skipped: list[str] = field(default_factory=list)
    violation_details: list[dict[str, Any]] = field(default_factory=list)
    commands: dict[str, int] = field(default_factory=dict)  # see CommandWatch.counts
    choice_digest: str = ""  # the ops chosen, cycle by cycle: equal for equal seeds and states
    fault_digest: str = ""  # the faults drawn, cycle by cycle: equal for equal seeds and cycles

    @property
    def sigkills(self) -> int:
        return sum(
            self.faults[kind]
            for kind in (
                "sigkill_at_step",
                "sigkill_random",
                "sigkill_between_ops",
                "sigkill_command_during_op",  # the owning kiosk at a command's step
                "sigkill_command_between_ops",
                "outage_killed",  # and kept offline past the commands' time to live
            )
        )

    @property
    def board_faults(self) -> int:
        return sum(self.faults[f"board_{kind}"] for kind in BOARD_FAULTS)

    @property
    def clean(self) -> bool:
        return not any(self.violations.values())

    def to_dict(self) -> dict[str, Any]:
        return {
            "options": self.options,
            "cycles": self.cycles,
            "elapsed_s": round(self.elapsed_s, 1),
            "stopped_because": self.stopped_because,
            "sigkills": self.sigkills,
            "board_faults": self.board_faults,
            "faults": dict(sorted(self.faults.items())),
            "ops": dict(sorted(self.ops.items())),
            "counts": {
                # customers recognised at a kiosk whose bank does not hold their locker: sent
                # there, nothing opened (one bank per kiosk)
                "cross_kiosk_retrieves": self.ops["retrieve:at_other_kiosk"],
                "registrations_active_elsewhere": self.ops["register:active_elsewhere"],
                # staff acting on another bank's locker: site commands to the owning kiosk
                "commands_sent": self.commands.get("commands_sent", 0),
                "commands_run": self.commands.get("commands_run", 0),
                "commands_expired": self.commands.get("commands_expired", 0),
                "commands_interrupted": self.commands.get("commands_interrupted", 0),
                "commands_unfinished": self.commands.get("commands_unfinished", 0),
            },
            "registrations_opened": self.registrations,
            "kiosk_restarts": self.restarts,
            "startup_findings": dict(sorted(self.startup_findings.items())),
            "board_alerts": dict(sorted(self.board_alerts.items())),
            "violations": self.violations,
            "violation_examples": self.examples,
            "violation_details": self.violation_details,
            "choice_digest": self.choice_digest,
            "fault_digest": self.fault_digest,
            "skipped": self.skipped,
            "clean": self.clean,
        }


def describe_options(options: SoakOptions) -> dict[str, Any]:
    keep = (
        "kiosks",
        "backend",
        "lockers",
        "protocol",
        "max_cycles",
        "max_seconds",
        "registrations",
        "target_sigkills",
        "target_board_faults",
        "seed",
        "sigkill_rate",
        "board_fault_rate",
        "db_fault_rate",
        "command_rate",
        "outage_rate",
        "command_ttl_s",
        "in_process",
    )
    return {name: getattr(options, name) for name in keep}
