"""Blocking service calls (database, lock board) on one thread of their own, in order.

The services are not thread-safe and a board unlock waits seconds for the door, so every call
goes through one :class:`ServiceRunner` whose thread runs them one after another; the outcome
comes back to the UI thread as a signal carrying a :class:`JobResult`. Errors never cross the
thread as exceptions: they are the result. The logic lives in :mod:`lockers.ui.job_dispatch`
(no Qt); this module is its thread and signals.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QThread, Signal, Slot

from lockers.ui.job_dispatch import Job, JobBook, JobResult, run_job
from lockers.ui.qt_compat import emit

__all__ = ["JobResult", "ServiceRunner"]


class _Executor(QObject):
    finished = Signal(object)  # JobResult

    @Slot(object)
    def execute(self, job: Job) -> None:
        emit(self.finished, run_job(job))


class ServiceRunner(QObject):
    """Runs submitted callables in order on its thread; ``finished`` delivers each result."""

    finished = Signal(object)  # JobResult, on the UI thread
    _submit = Signal(object)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._book = JobBook()
        self._thread = QThread(self)  # owned by Qt: deleted after the runner, never before
        self._thread.setObjectName("kiosk-services")
        self._executor = _Executor()
        self._executor.moveToThread(self._thread)
        self._submit.connect(self._executor.execute)
        self._executor.finished.connect(self._done)
        self._thread.start()
        self._stopped = False

    def submit(self, kind: str, call: Callable[[], Any], tag: object = None) -> int:
        """Queue ``call``; returns the job id its :class:`JobResult` will carry (0 if stopped).
        ``tag`` comes back unchanged in the result."""
        if self._stopped:
            return 0
        job = self._book.new(kind, call, tag)
        emit(self._submit, job)
        return job.job_id

    def busy(self) -> bool:
        """Whether a submitted call has not reported back yet."""
        return self._book.busy()

    @Slot(object)
    def _done(self, result: JobResult) -> None:
        self._book.done(result)
        if not self._stopped:
            emit(self.finished, result)

    def stop(self, timeout_s: float = 15.0) -> bool:
        """Let the running call finish (a board unlock is never cut off), then end the thread."""
        if self._stopped:
            return True
        self._stopped = True
        self._thread.quit()
        return self._thread.wait(int(timeout_s * 1000))
