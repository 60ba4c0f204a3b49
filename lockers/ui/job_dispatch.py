"""The service runner's logic without Qt: numbering jobs, running one, turning its outcome
(value or exception) into a :class:`JobResult`, and knowing which jobs have not answered.

:class:`~lockers.ui.service_runner.ServiceRunner` puts this behind signals and a thread (as
pymmcore-plus keeps its runner's logic apart from its Qt signals); tests drive it directly.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

log = logging.getLogger("lockers.ui.service_runner")


@dataclass(frozen=True)
class JobResult:
    """``value`` when the call returned, ``error`` (the exception) when it raised; ``tag``: what
    the submitter attached to the job (a flow request's id), handed back unchanged."""

    job_id: int
    kind: str
    value: Any = None
    error: BaseException | None = None
    tag: object = None

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True, eq=False)
class Job:
    job_id: int
    kind: str
    call: Callable[[], Any]
    tag: object = None


def run_job(job: Job) -> JobResult:
    """Run ``job``; never raises: an exception becomes the result's ``error``. Errors without
    a hint (not a :class:`~lockers.errors.LockersError`: a bug, not a user's situation) are
    logged with their traceback."""
    try:
        return JobResult(job.job_id, job.kind, value=job.call(), tag=job.tag)
    except Exception as exc:  # delivered to the UI as a result, never raised there
        if not hasattr(exc, "hint"):
            log.exception("service call %s failed", job.kind)
        return JobResult(job.job_id, job.kind, error=exc, tag=job.tag)


class JobBook:
    """Numbers jobs from 1 and knows which have not reported back."""

    def __init__(self) -> None:
        self._ids = itertools.count(1)
        self._pending: set[int] = set()

    def new(self, kind: str, call: Callable[[], Any], tag: object = None) -> Job:
        job = Job(next(self._ids), kind, call, tag)
        self._pending.add(job.job_id)
        return job

    def done(self, result: JobResult) -> None:
        self._pending.discard(result.job_id)

    def busy(self) -> bool:
        return bool(self._pending)
