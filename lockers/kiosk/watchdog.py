"""systemd's watchdog (``WatchdogSec=`` restarts a service that stops sending ``WATCHDOG=1``),
fed only while the UI loop, camera worker and service thread all make progress, so a hang in any
one gets the kiosk restarted. sd_notify(3) is a datagram on ``NOTIFY_SOCKET``: no library."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterable, Mapping

log = logging.getLogger(__name__)

# Silent for half of WatchdogSec = hung; 3 checks per WatchdogSec so one late tick is harmless.
STALE_FRACTION = 0.5
PING_FRACTION = 1 / 3
SEND_TIMEOUT_S = 1.0


class ProgressWatch:
    """Last progress of each named part (``ui``, ``camera``, ``service``) on a monotonic clock."""

    def __init__(
        self,
        parts: Iterable[str],
        stale_after_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        names = tuple(parts)
        if not names or not stale_after_s > 0:
            raise ValueError(f"need parts and stale_after_s > 0: {names!r}, {stale_after_s!r}")
        self.stale_after_s = stale_after_s
        self._clock = clock
        self._lock = threading.Lock()
        # A part that never beat is given stale_after_s from construction to start.
        self._last_beat: dict[str, float] = dict.fromkeys(names, clock())

    @property
    def parts(self) -> tuple[str, ...]:
        return tuple(self._last_beat)

    def beat(self, part: str) -> None:
        """Record that ``part`` made progress now. Safe from any thread."""
        if part not in self._last_beat:
            raise ValueError(f"unknown part {part!r}; watched parts: {', '.join(self.parts)}")
        now = self._clock()
        with self._lock:
            self._last_beat[part] = now

    def stale_parts(self) -> list[str]:
        """Parts whose last beat is older than ``stale_after_s``, in the order they were given."""
        now = self._clock()
        with self._lock:
            return [p for p, t in self._last_beat.items() if now - t > self.stale_after_s]

    def healthy(self) -> bool:
        return not self.stale_parts()


class SystemdNotifier:
    """sd_notify over ``NOTIFY_SOCKET``; without it (not run by systemd) every call is a no-op."""

    def __init__(self, environ: Mapping[str, str] = os.environ) -> None:
        raw = environ.get("NOTIFY_SOCKET") or None
        # "@name" is a Linux abstract socket: its address starts with a NUL byte instead.
        self.address = "\0" + raw[1:] if raw and raw.startswith("@") else raw
        self._sock: socket.socket | None = None
        self._lock = threading.Lock()
        self._failing = False

    @property
    def enabled(self) -> bool:  # False when not run by systemd, or closed
        return self.address is not None

    def ready(self) -> None:
        self._send("READY=1")

    def watchdog(self) -> None:
        self._send("WATCHDOG=1")

    def status(self, text: str) -> None:
        # One message per line in the protocol: a newline would start a bogus assignment.
        self._send("STATUS=" + " ".join(text.splitlines()))

    def stopping(self) -> None:
        self._send("STOPPING=1")

    def close(self) -> None:
        """Release the socket; every later call is a no-op."""
        with self._lock:
            self.address = None
            if self._sock is not None:
                self._sock.close()
                self._sock = None

    def _send(self, message: str) -> None:
        """Send one datagram; a failure is logged once per outage and never raised: the kiosk
        must keep serving even when systemd cannot be told (systemd then restarts it)."""
        with self._lock:
            if self.address is None:
                return
            try:
                if self._sock is None:
                    self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
                    self._sock.settimeout(SEND_TIMEOUT_S)  # a stuck reader must not hang a part
                self._sock.sendto(message.encode(), self.address)
            except OSError as exc:
                if not self._failing:
                    log.warning("cannot notify systemd at %r: %s", self.address, exc)
                self._failing = True
            else:
                self._failing = False


def watchdog_interval_s(
    environ: Mapping[str, str] = os.environ, pid: int | None = None
) -> float | None:
    """systemd's watchdog timeout (``WatchdogSec=``) in seconds; None when none is set or when
    this process (``pid``, default: this one) is not the one it watches (``WATCHDOG_PID``)."""
    usec = environ.get("WATCHDOG_USEC")
    if not usec:
        return None
    watched_pid = environ.get("WATCHDOG_PID")
    try:
        interval_s = int(usec) / 1_000_000
        if watched_pid and int(watched_pid) != (os.getpid() if pid is None else pid):
            return None
    except ValueError:
        # Garbage means a hand-made environment: serve customers without the watchdog.
        log.warning("ignoring malformed WATCHDOG_USEC=%r / WATCHDOG_PID=%r", usec, watched_pid)
        return None
    return interval_s if interval_s > 0 else None


class WatchdogPinger:
    """A daemon thread that, every ``interval_s``, sends ``WATCHDOG=1`` while no part is stale,
    and otherwise ``STATUS=`` naming the stale parts (one datagram per tick either way)."""

    def __init__(self, watch: ProgressWatch, notifier: SystemdNotifier, interval_s: float) -> None:
        if not interval_s > 0:
            raise ValueError(f"interval_s must be > 0, got {interval_s!r}")
        self.watch = watch
        self.notifier = notifier
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._was_stale: list[str] = []

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("WatchdogPinger already started")
        self._thread = threading.Thread(target=self._run, name="systemd-watchdog", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        """End the thread (at once: it waits on an Event), close the notifier; send
        ``notifier.stopping()`` before, when shutdown begins."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
        self.notifier.close()

    def _run(self) -> None:
        self.tick()
        while not self._stop.wait(self.interval_s):
            self.tick()

    def tick(self) -> None:
        """One check: ping when every part made progress, else say which did not."""
        stale = self.watch.stale_parts()
        if stale and stale != self._was_stale:
            log.error("no progress from %s: systemd watchdog pings withheld", ", ".join(stale))
        elif not stale and self._was_stale:
            log.warning("every part progresses again: systemd watchdog pings resume")
            self.notifier.status("running")
        if stale:
            self.notifier.status("hung: no progress from " + ", ".join(stale))
        else:
            self.notifier.watchdog()
        self._was_stale = stale


def start_watchdog_from_env(
    parts: Iterable[str], environ: Mapping[str, str] = os.environ
) -> tuple[ProgressWatch, WatchdogPinger] | None:
    """Call once the kiosk is up: tells systemd READY=1 (when ``NOTIFY_SOCKET`` is set) and,
    under its watchdog, starts a pinger over a watch of ``parts``; None without a watchdog."""
    notifier = SystemdNotifier(environ)
    notifier.ready()
    interval_s = watchdog_interval_s(environ)
    if interval_s is None or not notifier.enabled:
        notifier.close()
        return None
    watch = ProgressWatch(parts, stale_after_s=interval_s * STALE_FRACTION)
    pinger = WatchdogPinger(watch, notifier, interval_s * PING_FRACTION)
    pinger.start()
    notifier.status("running")
    return watch, pinger
