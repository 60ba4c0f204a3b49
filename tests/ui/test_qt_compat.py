"""The emit work-around keeps ``True`` alive however many signals the kiosk sends."""

from __future__ import annotations

import sys

from PySide6.QtCore import QObject, Signal

from lockers.ui.qt_compat import emit, forward


class Pinger(QObject):
    ping = Signal()
    value = Signal(object)


def test_emitting_many_signals_does_not_drain_true() -> None:
    pinger = Pinger()
    received: list[object] = []
    pinger.value.connect(received.append)
    pinger.ping.connect(lambda: received.append(None))
    before = sys.getrefcount(True)
    for i in range(5000):
        emit(pinger.ping)
        emit(pinger.value, i)
        forward(pinger.ping)(False)
    assert len(received) == 15000
    # A leaking binding would have taken 15000 references away (and crashed at 0).
    assert abs(sys.getrefcount(True) - before) < 50
