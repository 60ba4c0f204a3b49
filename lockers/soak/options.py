"""How long a soak runs, on what, and how often each fault strikes."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from lockers.soak.worker import ServiceFactory


@dataclass
class SoakOptions:
    """Bounds, the set-up and the fault rates of one soak run.

    The run stops at whichever bound comes first: ``max_cycles``, ``max_seconds``, every kiosk
    having ``registrations`` registrations whose door opened, or (when both are set) at least
    ``target_sigkills`` kills and ``target_board_faults`` board faults injected.

    Rates: ``sigkill_rate`` and ``board_fault_rate`` per kiosk operation (half of the kills at a
    named step inside the services, half at a random moment); ``db_fault_rate`` per cycle (a
    PostgreSQL restart of the harness's own server, or a full disk under the SQLite file).
    The customer mix: ``stranger_rate`` (a face that never registered tries to retrieve),
    ``bad_face_rate`` (a renter's face is not recognised), ``duplicate_rate`` (a renter
    registers again), ``forgetful_rate`` (a renter never comes back: the rental expires),
    ``staff_rate`` (staff take a locker out of service or back), ``expire_every`` (cycles
    between the kiosk's expiry housekeeping), ``command_rate`` (staff open an occupied locker
    of another bank through a site command; resets and out-of-service of other banks' lockers
    are site commands too), ``outage_rate`` (per cycle: a kiosk is stopped or SIGKILLed and
    kept offline for ``outage_s``, past the commands' time to live ``command_ttl_s``, while the
    others send it commands; then it is brought back). A SIGKILL at a named step of a command
    the owning kiosk is running (claimed, door intent committed, pulsed, executed) strikes at
    ``sigkill_rate`` × 2 per kiosk and cycle (armed until its next op).
    """

    kiosks: int = 2
    backend: Literal["sqlite", "postgresql"] = "sqlite"
    database_url: str | None = None  # an empty PostgreSQL database of your own (no restarts)
    lockers: int = 16
    protocol: Literal["kerong", "modbus", "xor"] = "kerong"
    max_cycles: int = 200
    max_seconds: float = 120.0
    registrations: int | None = None
    target_sigkills: int | None = None
    target_board_faults: int | None = None
    seed: int = 1
    sigkill_rate: float = 0.1
    board_fault_rate: float = 0.1
    db_fault_rate: float = 0.01
    stranger_rate: float = 0.05
    bad_face_rate: float = 0.05
    duplicate_rate: float = 0.05
    forgetful_rate: float = 0.03
    staff_rate: float = 0.02
    command_rate: float = 0.08
    outage_rate: float = 0.01
    outage_s: float = 4.5
    command_ttl_s: float = 3.0
    heartbeat_s: float = 1.0
    expire_every: int = 25
    sim_minutes_per_cycle: float = 2.0
    rental_max_hours: float = 2.0
    retention_hours: float = 1.0
    disk_mb: int = 64
    work_dir: Path | None = None
    keep_work_dir: bool = False
    in_process: bool = False  # kiosks inside the harness (no SIGKILL): for service doubles
    service_factory: ServiceFactory | None = None  # in-process only

    def problems(self) -> list[str]:
        """What is wrong with these options, one line each ([] when fine)."""
        out = []
        if self.kiosks < 1:
            out.append("--kiosks must be at least 1")
        if not 2 <= self.lockers <= 16:
            out.append("--lockers must be 2 to 16 (one emulated board per kiosk)")
        elif self.kiosks >= 1 and self.lockers // self.kiosks < 2:
            out.append("--lockers must give each kiosk's bank at least 2 lockers")
        if self.command_ttl_s < 1 or self.heartbeat_s < 1:
            out.append("command_ttl_s and heartbeat_s must be at least 1 s (site config)")
        if self.max_cycles < 1 or self.max_seconds <= 0:
            out.append("--cycles and --minutes must be positive")
        for name in (
            "sigkill_rate",
            "board_fault_rate",
            "db_fault_rate",
            "stranger_rate",
            "bad_face_rate",
            "duplicate_rate",
            "forgetful_rate",
            "staff_rate",
            "command_rate",
            "outage_rate",
        ):
            if not 0.0 <= getattr(self, name) <= 1.0:
                out.append(f"{name} must be between 0 and 1")
        if self.service_factory is not None and not self.in_process:
            out.append("a service double runs only with in-process kiosks")
        if self.backend == "sqlite" and self.database_url:
            out.append("--database-url is for --backend postgresql")
        return out
