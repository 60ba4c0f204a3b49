"""systemd watchdog: pings over a real unix datagram socket, withheld while any part hangs."""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from lockers.kiosk.watchdog import (
    ProgressWatch,
    SystemdNotifier,
    WatchdogPinger,
    start_watchdog_from_env,
    watchdog_interval_s,
)

PARTS = ("ui", "camera", "service")
STALE_AFTER_S = 10.0
TICK_S = 0.005  # the pinger's real interval; the watch runs on a hand-moved clock
RECV_TIMEOUT_S = 10.0  # bounded wait for one datagram; only reached when something is broken
INTERVALS_WITHOUT_PING = 8


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self.now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.now += seconds


@pytest.fixture
def notify_socket(tmp_path: Path) -> Iterator[tuple[socket.socket, str]]:
    """systemd's side: a datagram socket bound in tmp_path, and its NOTIFY_SOCKET value."""
    path = tmp_path / "notify"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(RECV_TIMEOUT_S)
    yield sock, str(path)
    sock.close()


def receive(sock: socket.socket) -> str:
    return sock.recv(4096).decode()


def receive_until(sock: socket.socket, wanted: str) -> list[str]:
    """Datagrams up to and including the first equal to ``wanted`` (bounded by the socket timeout
    per datagram and a count, so a pinger that never sends it fails instead of hanging)."""
    seen: list[str] = []
    for _ in range(10_000):
        seen.append(receive(sock))
        if seen[-1] == wanted:
            return seen
    raise AssertionError(f"never received {wanted!r}; last: {seen[-5:]}")


def test_progress_watch_marks_parts_stale_from_construction_and_last_beat() -> None:
    clock = FakeClock()
    watch = ProgressWatch(PARTS, stale_after_s=STALE_AFTER_S, clock=clock)
    clock.advance(STALE_AFTER_S)
    assert watch.healthy()  # never beat, but the grace period is not over
    clock.advance(0.1)
    assert watch.stale_parts() == list(PARTS)
    watch.beat("camera")
    assert watch.stale_parts() == ["ui", "service"]
    for part in PARTS:
        watch.beat(part)
    assert watch.healthy()
    with pytest.raises(ValueError, match="unknown part 'printer'"):
        watch.beat("printer")
    with pytest.raises(ValueError):
        ProgressWatch([], stale_after_s=1.0)
    with pytest.raises(ValueError):
        ProgressWatch(PARTS, stale_after_s=0)


@pytest.mark.parametrize("hung_part", PARTS)
def test_pings_stop_while_a_part_hangs_and_resume_when_it_beats(
    notify_socket: tuple[socket.socket, str], hung_part: str
) -> None:
    sock, address = notify_socket
    clock = FakeClock()
    watch = ProgressWatch(PARTS, stale_after_s=STALE_AFTER_S, clock=clock)
    pinger = WatchdogPinger(watch, SystemdNotifier({"NOTIFY_SOCKET": address}), TICK_S)
    pinger.start()
    try:
        # Pings arrive while every part beats.
        for _ in range(3):
            assert receive(sock) == "WATCHDOG=1"
        # The hung part stops beating while the others go on; time passes beyond stale_after_s.
        clock.advance(STALE_AFTER_S + 1)
        for part in PARTS:
            if part != hung_part:
                watch.beat(part)
        hung_status = f"STATUS=hung: no progress from {hung_part}"
        before = receive_until(sock, hung_status)
        assert set(before[:-1]) <= {"WATCHDOG=1"}  # pings already on their way when it hung
        # One datagram per tick: several intervals pass, each naming the hung part, none a ping.
        after = [receive(sock) for _ in range(INTERVALS_WITHOUT_PING)]
        assert after == [hung_status] * INTERVALS_WITHOUT_PING
        # It makes progress again: pings resume.
        watch.beat(hung_part)
        resumed = receive_until(sock, "WATCHDOG=1")
        assert set(resumed[:-1]) <= {hung_status, "STATUS=running"}
        assert receive(sock) == "WATCHDOG=1"
    finally:
        pinger.stop()
    assert not pinger._thread or not pinger._thread.is_alive()


def test_stop_returns_promptly_with_a_long_interval(
    notify_socket: tuple[socket.socket, str],
) -> None:
    sock, address = notify_socket
    watch = ProgressWatch(PARTS, stale_after_s=STALE_AFTER_S)
    pinger = WatchdogPinger(watch, SystemdNotifier({"NOTIFY_SOCKET": address}), interval_s=3600)
    pinger.start()
    assert receive(sock) == "WATCHDOG=1"  # the first tick is immediate
    pinger.stop(timeout_s=RECV_TIMEOUT_S)
    assert pinger._thread is not None and not pinger._thread.is_alive()


def test_abstract_notify_socket_receives_messages() -> None:
    name = f"lockers-test-{uuid.uuid4().hex}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.settimeout(RECV_TIMEOUT_S)
        notifier = SystemdNotifier({"NOTIFY_SOCKET": "@" + name})
        notifier.ready()
        notifier.watchdog()
        notifier.status("two\nlines")
        notifier.stopping()
        notifier.close()
        notifier.watchdog()  # closed: a no-op
        received = [receive(sock) for _ in range(4)]
    assert received == ["READY=1", "WATCHDOG=1", "STATUS=two lines", "STOPPING=1"]


def test_without_notify_socket_everything_is_a_no_op() -> None:
    notifier = SystemdNotifier({})
    assert not notifier.enabled
    notifier.ready()
    notifier.watchdog()
    notifier.status("x")
    notifier.stopping()
    assert start_watchdog_from_env(PARTS, environ={}) is None
    assert start_watchdog_from_env(PARTS, environ={"WATCHDOG_USEC": "30000000"}) is None


def test_send_failure_is_logged_once_and_never_raised(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    notifier = SystemdNotifier({"NOTIFY_SOCKET": str(tmp_path / "nobody-listens")})
    with caplog.at_level(logging.WARNING, logger="lockers.kiosk.watchdog"):
        for _ in range(3):
            notifier.watchdog()
    notifier.close()
    assert len([r for r in caplog.records if "cannot notify systemd" in r.message]) == 1


def test_watchdog_interval_from_environment() -> None:
    me = os.getpid()
    assert watchdog_interval_s({}) is None
    assert watchdog_interval_s({"WATCHDOG_USEC": "30000000"}) == 30.0
    assert watchdog_interval_s({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": str(me)}) == 30.0
    assert watchdog_interval_s({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": str(me + 1)}) is None
    assert watchdog_interval_s({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "7"}, pid=7) == 30.0
    assert watchdog_interval_s({"WATCHDOG_USEC": "soon"}) is None
    assert watchdog_interval_s({"WATCHDOG_USEC": "0"}) is None


def test_start_from_env_sends_ready_then_pings(notify_socket: tuple[socket.socket, str]) -> None:
    sock, address = notify_socket
    environ = {
        "NOTIFY_SOCKET": address,
        "WATCHDOG_USEC": "30000000",
        "WATCHDOG_PID": str(os.getpid()),
    }
    started = start_watchdog_from_env(PARTS, environ=environ)
    assert started is not None
    watch, pinger = started
    try:
        assert receive(sock) == "READY=1"
        assert "WATCHDOG=1" in receive_until(sock, "WATCHDOG=1")
        assert watch.stale_after_s == 15.0 and pinger.interval_s == pytest.approx(10.0)
        assert watch.parts == PARTS
    finally:
        pinger.stop()


def test_start_from_env_without_watchdog_still_reports_ready(
    notify_socket: tuple[socket.socket, str],
) -> None:
    sock, address = notify_socket
    assert start_watchdog_from_env(PARTS, environ={"NOTIFY_SOCKET": address}) is None
    assert receive(sock) == "READY=1"
