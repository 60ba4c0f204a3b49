"""Work-arounds for bugs of the Qt binding, each detected at run time and inert once fixed.

PySide6 6.12.0 (with Python 3.11, where ``True`` is an ordinary refcounted object) returns
``True`` from ``SignalInstance.emit`` without a reference of its own: every emit from Python takes
one reference away from ``True``, and after a few thousand emits (minutes of camera frames) the
interpreter aborts with "Fatal Python error: bool_dealloc". :func:`emit` gives the reference
back when, and only when, the probe at import shows the binding loses it.
"""

from __future__ import annotations

import ctypes
import sys
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Signal, SignalInstance


class _Probe(QObject):
    ping = Signal()


def _emit_loses_a_reference() -> bool:
    """Whether ``emit`` returns a borrowed ``True`` (measured over a few emits)."""
    probe = _Probe()
    rounds = 8
    before = sys.getrefcount(True)
    results = [probe.ping.emit() for _ in range(rounds)]  # type: ignore[func-returns-value]
    del results
    lost = before - sys.getrefcount(True)
    if lost >= rounds:
        for _ in range(lost):  # undo the probe's own damage
            ctypes.pythonapi.Py_IncRef(ctypes.py_object(True))
        return True
    return False


EMIT_RETURNS_BORROWED_TRUE = _emit_loses_a_reference()


def emit(signal: SignalInstance, *args: Any) -> None:
    """``signal.emit(*args)``, safe from the reference leak described above."""
    result: object = signal.emit(*args)  # type: ignore[func-returns-value]
    if EMIT_RETURNS_BORROWED_TRUE and isinstance(result, bool):
        ctypes.pythonapi.Py_IncRef(ctypes.py_object(result))


def forward(signal: SignalInstance) -> Callable[..., None]:
    """A callable that emits ``signal`` with no arguments, whatever it is called with (for
    ``clicked(bool)`` and ``timeout()`` connections)."""
    return lambda *_: emit(signal)
