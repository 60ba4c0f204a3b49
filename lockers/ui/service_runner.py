"""Blocking service calls (database, lock board) on one thread of their own, in order.

The services are not thread-safe and a board unlock waits seconds for the door, so every call
goes through one :class:`ServiceRunner` whose thread runs them one after another; the outcome
comes back to the UI thread as a signal carrying a :class:`JobResult`. Errors never cross the
thread as exceptions: they are the result.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QObject, QThread, Signal, Slot

from lockers.ui.qt_compat import emit

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class JobResult:
    """``value`` when the call returned, ``error`` (the exception) when it raised."""

    job_id: int
    kind: str
    value: Any = None
    error: BaseException | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


class _Executor(QObject):
    finished = Signal(object)  # JobResult

    @Slot(object)
    def execute(self, job: tuple[int, str, Callable[[], Any]]) -> None:
        job_id, kind, call = job
        try:
            result = JobResult(job_id, kind, value=call())
        except Exception as exc:  # delivered to the UI as a result, never raised there
            if not hasattr(exc, "hint"):
                log.exception("service call %s failed", kind)
            result = JobResult(job_id, kind, error=exc)
        emit(self.finished, result)


class ServiceRunner(QObject):
    """Runs submitted callables in order on its thread; ``finished`` delivers each result."""

    finished = Signal(object)  # JobResult, on the UI thread
    _submit = Signal(object)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._ids = itertools.count(1)
        self._pending: set[int] = set()
        self._thread = QThread(self)  # owned by Qt: deleted after the runner, never before
        self._thread.setObjectName("kiosk-services")
        self._executor = _Executor()
        self._executor.moveToThread(self._thread)
        self._submit.connect(self._executor.execute)
        self._executor.finished.connect(self._done)
        self._thread.start()
        self._stopped = False

    def submit(self, kind: str, call: Callable[[], Any]) -> int:
        """Queue ``call``; returns the job id its :class:`JobResult` will carry (0 if stopped)."""
        if self._stopped:
            return 0
        job_id = next(self._ids)
        self._pending.add(job_id)
        emit(self._submit, (job_id, kind, call))
        return job_id

    def busy(self) -> bool:
        """Whether a submitted call has not reported back yet."""
        return bool(self._pending)

    @Slot(object)
    def _done(self, result: JobResult) -> None:
        self._pending.discard(result.job_id)
        if not self._stopped:
            emit(self.finished, result)

    def stop(self, timeout_s: float = 15.0) -> bool:
        """Let the running call finish (a board unlock is never cut off), then end the thread."""
        if self._stopped:
            return True
        self._stopped = True
        self._thread.quit()
        return self._thread.wait(int(timeout_s * 1000))
