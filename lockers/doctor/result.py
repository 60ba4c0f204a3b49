"""What one check of ``lockers doctor`` says: ok / warn / fail, what it saw, and the fix."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any


class Status(StrEnum):
    OK = "ok"
    WARN = "warn"  # works, but not as a site should run it (the fix says what to change)
    FAIL = "fail"  # the kiosk cannot serve, or loses data, until this is fixed


@dataclass(frozen=True)
class CheckResult:
    """One line of the doctor's table.

    ``name`` is stable (fleet tooling keys on it, e.g. ``board``, ``database.schema``);
    ``detail`` is what was seen; ``fix`` the exact step (a command, a config key) when the
    status is not ok.
    """

    name: str
    status: Status
    detail: str
    fix: str = ""

    @property
    def failed(self) -> bool:
        return self.status is Status.FAIL

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["status"] = self.status.value
        return data


def ok(name: str, detail: str) -> CheckResult:
    return CheckResult(name, Status.OK, detail)


def warn(name: str, detail: str, fix: str) -> CheckResult:
    return CheckResult(name, Status.WARN, detail, fix)


def fail(name: str, detail: str, fix: str) -> CheckResult:
    return CheckResult(name, Status.FAIL, detail, fix)
