"""Webhooks: each new alert POSTed as signed JSON to every ``console.webhooks`` receiver.

A background thread (:class:`WebhookDispatcher`) looks for new alerts every
``console.webhook_scan_s``, queues one delivery per alert and receiver in the database (so an
alert is announced once, across restarts, and every attempt is visible on the alerts page), and
sends the due ones, at most :data:`BATCH` per round, retrying failures with
:class:`lockers.backoff.Backoff` until ``console.webhook_max_attempts``. No request handler ever
waits on a receiver: pages only read the deliveries table.

The request (docs/console.md, "Webhooks"): ``X-Lockers-Timestamp`` (Unix seconds) and
``X-Lockers-Signature: v1=<hex>``, the HMAC-SHA256 under the receiver's secret of
``<timestamp>.`` followed by the raw body. A receiver recomputes it, compares in constant time,
and refuses a timestamp older than a few minutes (a replay); ``delivery`` in the body is the same
on every retry of one delivery, so it can also drop duplicates.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError

from lockers.backoff import Backoff
from lockers.console import webhook_store
from lockers.console.alerts import Alert, open_alerts
from lockers.console.context import ConsoleContext
from lockers.errors import LockersError

log = logging.getLogger("lockers.console.webhooks")

BATCH = 20  # deliveries sent per round: the bound on work between two looks for new alerts
SIGNATURE_HEADER = "X-Lockers-Signature"
TIMESTAMP_HEADER = "X-Lockers-Timestamp"
DELIVERY_HEADER = "X-Lockers-Delivery"
EVENT_HEADER = "X-Lockers-Event"
REPLAY_WINDOW_S = 300


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The ``X-Lockers-Signature`` value of ``body`` sent at ``timestamp``."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return "v1=" + digest.hexdigest()


def verify(
    secret: str,
    timestamp: str,
    signature: str,
    body: bytes,
    now_s: float,
    window_s: float = REPLAY_WINDOW_S,
) -> bool:
    """What a receiver written in Python does: the signature matches and is fresh."""
    try:
        sent = int(timestamp)
    except ValueError:
        return False
    if abs(now_s - sent) > window_s:
        return False
    return hmac.compare_digest(sign(secret, sent, body), signature)


def alert_json(alert: Alert) -> str:
    """The alert as the receivers get it (stored with the delivery)."""
    return json.dumps(
        {
            "key": alert.key,
            "kind": alert.kind,
            "kiosk_id": alert.kiosk_id,
            "locker_label": alert.locker_label,
            "since": alert.since.isoformat(),
            "message": alert.message,
        },
        ensure_ascii=False,
    )


@dataclass(frozen=True)
class Attempt:
    """What one POST came to: ``error`` is None when the receiver answered 2xx."""

    status: int | None
    error: str | None


Poster = Callable[[str, bytes, dict[str, str], float], Attempt]


def post(url: str, body: bytes, headers: dict[str, str], timeout_s: float) -> Attempt:
    """POST ``body`` with the standard library (the console needs no HTTP client package)."""
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            return Attempt(response.status, None)
    except urllib.error.HTTPError as exc:
        text = exc.read(200).decode("utf-8", "replace")
        return Attempt(exc.code, f"HTTP {exc.code}: {text}".strip())
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        return Attempt(None, f"{type(exc).__name__}: {reason}")


class WebhookDispatcher:
    """Announces new alerts to the configured receivers from its own thread.

    Args:
        ctx: the console's context (settings, database, clock).
        poster: sends one request (tests may pass a recorder; production uses :func:`post`).
    """

    def __init__(self, ctx: ConsoleContext, *, poster: Poster = post) -> None:
        self._ctx = ctx
        self._config = ctx.settings.console
        self._secrets = {str(t.url): t.secret.get_secret_value() for t in self._config.webhooks}
        self._poster = poster
        self._backoff = Backoff(
            self._config.webhook_retry_base_s,
            max(self._config.webhook_retry_base_s, self._config.webhook_retry_max_s),
        )
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def enabled(self) -> bool:
        return bool(self._secrets)

    def start(self) -> None:
        if self._thread is not None or not self.enabled:
            return
        self._thread = threading.Thread(target=self._loop, name="console-webhooks", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None

    def wake(self) -> None:
        """Look for new alerts now rather than at the next scan."""
        self._wake.set()

    def _loop(self) -> None:
        while not self._stop.is_set():
            delay = self._config.webhook_scan_s
            try:
                delay = self.run_once()
            except LockersError as exc:  # database away: try again at the next scan
                log.warning("webhooks: %s", exc.message)
            except Exception:  # a bug must not end the thread: alerts would stop silently
                log.exception("webhooks: round failed")
            self._wake.wait(delay)
            self._wake.clear()

    def run_once(self) -> float:
        """One round: queue new alerts, send the due deliveries; returns the seconds until the
        next round is wanted (the next retry due, at most ``webhook_scan_s``)."""
        self.queue_new_alerts()
        now = self._ctx.clock()
        lease = now + timedelta(seconds=self._config.webhook_timeout_s * 2 + 30)
        with self._ctx.database.transaction() as session:
            due = webhook_store.claim_due(session, now, lease, BATCH)
        for delivery in due:
            if self._stop.is_set():
                break
            self._deliver(delivery)
        if len(due) == BATCH:
            return 0.0
        with self._ctx.database.transaction() as session:
            next_due = webhook_store.next_due(session)
        wait = self._config.webhook_scan_s
        if next_due is not None:
            wait = min(wait, (next_due - self._ctx.clock()).total_seconds())
        return max(0.0, wait)

    def queue_new_alerts(self) -> int:
        """A delivery for every open, unacknowledged alert not yet announced to a receiver."""
        current = [a for a in open_alerts(self._ctx) if a.acknowledged_by is None]
        now, queued = self._ctx.clock(), 0
        with self._ctx.database.transaction() as session:
            for url in self._secrets:
                done = webhook_store.announced(session, (a.key for a in current), url)
                for alert in current:
                    if alert.key in done:
                        continue
                    try:
                        with session.begin_nested():  # another console queued it meanwhile
                            webhook_store.add(session, alert.key, url, alert_json(alert), now)
                        queued += 1
                    except IntegrityError:
                        continue
        return queued

    def _deliver(self, delivery: webhook_store.DeliveryView) -> None:
        secret = self._secrets.get(delivery.url)
        now = self._ctx.clock()
        if secret is None:
            result = Attempt(None, "this receiver is no longer in console.webhooks")
            retry_at: datetime | None = None
        else:
            result = self._send(delivery, secret, now)
            failures = delivery.attempts + 1
            retry_at = None
            if result.error is not None and failures < self._config.webhook_max_attempts:
                retry_at = now + timedelta(seconds=self._backoff.wait_s(failures))
        if result.error is not None:
            log.warning("webhook %s for %s: %s", delivery.url, delivery.alert_key, result.error)
        with self._ctx.database.transaction() as session:
            webhook_store.record_attempt(
                session,
                delivery.id,
                self._ctx.clock(),
                status=result.status,
                error=result.error,
                retry_at=retry_at,
            )

    def _send(self, delivery: webhook_store.DeliveryView, secret: str, now: datetime) -> Attempt:
        timestamp = int(time.time())  # the receiver compares it with its own wall clock
        body = json.dumps(
            {
                "event": "alert",
                "delivery": delivery.id,
                "attempt": delivery.attempts + 1,
                "sent_at": now.isoformat(),
                "alert": json.loads(delivery.payload),
            },
            ensure_ascii=False,
        ).encode()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "lockers-console",
            EVENT_HEADER: "alert",
            DELIVERY_HEADER: str(delivery.id),
            TIMESTAMP_HEADER: str(timestamp),
            SIGNATURE_HEADER: sign(secret, timestamp, body),
        }
        return self._poster(delivery.url, body, headers, self._config.webhook_timeout_s)
