"""/metrics: the site's state read from the database at scrape time, in the Prometheus format.

Naming (prometheus.io "Metric and label naming"): one ``lockers_`` prefix, base units
(seconds), ``_total`` only on counters (prometheus-client appends it to counter families), no
person data in labels (kiosk ids, states, purposes and outcomes only: bounded sets).
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from sqlalchemy import select

from lockers.console import alerts
from lockers.console.context import ConsoleContext
from lockers.console.site_port import KioskView
from lockers.store import console_queries
from lockers.store.db import Session
from lockers.store.latency import HistogramSnapshot
from lockers.store.models import Kiosk

LOCKER_STATES = ("free", "occupied", "overdue", "out_of_service", "flagged")


class SiteCollector(Collector):
    """Reads everything in one transaction per scrape."""

    def __init__(self, ctx: ConsoleContext) -> None:
        self._ctx = ctx

    def collect(self) -> Iterator[Metric]:
        ctx = self._ctx
        now = ctx.clock()
        with ctx.database.transaction() as session:
            kiosks = ctx.site.kiosks(session, now)
            grid = console_queries.locker_grid(session, now)
            unlocks = console_queries.unlock_counts(session)
            retrieves = console_queries.retrieve_outcomes(session)
            attacks = console_queries.presentation_attacks(session)
            commands = ctx.commands.counts_by_result(session)
            latency = _recognition_latency(session)
        yield _lockers(grid, [k.kiosk_id for k in kiosks])
        yield from _kiosks(kiosks)
        yield latency
        unlock_family = CounterMetricFamily(
            "lockers_unlocks", "Door unlocks by purpose and outcome", labels=["purpose", "outcome"]
        )
        for purpose, outcome, count in unlocks:
            unlock_family.add_metric([purpose, outcome], count)
        yield unlock_family
        retrieve_family = CounterMetricFamily(
            "lockers_retrieves", "Retrieve attempts by outcome", labels=["outcome"]
        )
        for outcome, count in retrieves:
            retrieve_family.add_metric([outcome], count)
        yield retrieve_family
        yield CounterMetricFamily(
            "lockers_presentation_attacks_refused", "Presentation attacks refused", value=attacks
        )
        command_family = CounterMetricFamily(
            "lockers_commands", "Commands to kiosks by result", labels=["result"]
        )
        for result, count in commands:
            command_family.add_metric([result], count)
        yield command_family
        open_by_kind: dict[str, int] = {}
        for alert in alerts.open_alerts(ctx):
            if alert.acknowledged_by is None:
                open_by_kind[alert.kind] = open_by_kind.get(alert.kind, 0) + 1
        alert_family = GaugeMetricFamily(
            "lockers_alerts_open", "Alerts not acknowledged, by kind", labels=["kind"]
        )
        for kind, count in sorted(open_by_kind.items()):
            alert_family.add_metric([kind], count)
        yield alert_family


def _lockers(grid: list[console_queries.LockerRow], kiosk_ids: list[str]) -> Metric:
    counts = {(k, s): 0 for k in kiosk_ids for s in LOCKER_STATES}
    for row in grid:
        if row.status == "out_of_service":
            state = "out_of_service"
        elif row.overdue:
            state = "overdue"
        elif row.status == "occupied":
            state = "occupied"
        else:
            state = "flagged" if row.attention else "free"
        counts[(row.kiosk_id, state)] = counts.get((row.kiosk_id, state), 0) + 1
    family = GaugeMetricFamily(
        "lockers_lockers", "Lockers per kiosk and state", labels=["kiosk", "state"]
    )
    for (kiosk, state), count in sorted(counts.items()):
        family.add_metric([kiosk, state], count)
    return family


def _kiosks(kiosks: list[KioskView]) -> Iterator[Metric]:
    up = GaugeMetricFamily("lockers_kiosk_up", "1 when the kiosk beat recently", labels=["kiosk"])
    beat = GaugeMetricFamily(
        "lockers_kiosk_last_heartbeat_timestamp_seconds",
        "Unix time of the kiosk's last heartbeat",
        labels=["kiosk"],
    )
    for kiosk in kiosks:
        if kiosk.online is not None:
            up.add_metric([kiosk.kiosk_id], 1.0 if kiosk.online else 0.0)
        if kiosk.last_beat_at is not None:
            beat.add_metric([kiosk.kiosk_id], kiosk.last_beat_at.timestamp())
    yield up
    yield beat


def _recognition_latency(session: Session) -> Metric:
    """Each kiosk's retrieve latencies as its last heartbeat stored them (cumulative since that
    kiosk process started; a kiosk that has not beaten with one yet has no series)."""
    family = HistogramMetricFamily(
        "lockers_recognition_latency_seconds",
        "Retrieve recognition latency at each kiosk: probe frames handed to the service to "
        "its decision",
        labels=["kiosk"],
    )
    rows = session.execute(select(Kiosk.id, Kiosk.recognition_latency).order_by(Kiosk.id))
    for kiosk_id, stored in rows:
        snapshot = HistogramSnapshot.from_json(stored)
        if snapshot is not None:
            family.add_metric([kiosk_id], snapshot.cumulative(), snapshot.sum_s)
    return family


def render_metrics(ctx: ConsoleContext) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SiteCollector(ctx))
    return generate_latest(registry)
