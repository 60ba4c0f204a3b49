"""``lockers doctor``: everything a site needs, checked, each with the exact fix.

Checks are plain functions returning a :class:`CheckResult` (ok / warn / fail, what was seen,
the fix). :func:`run_checks` runs them all; the CLI prints them as a table or JSON, and the
kiosk runs the start-up subset and shows failures to staff on its out-of-order screen.
"""

from __future__ import annotations

from lockers.doctor.result import CheckResult, Status
from lockers.doctor.runner import LIVE_AT_STARTUP, run_checks, worst

__all__ = ["LIVE_AT_STARTUP", "CheckResult", "Status", "run_checks", "worst"]
