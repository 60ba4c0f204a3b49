"""The recognition latency histogram: counted by the kiosk at each retrieve decision, stored on
its kiosk row by its heartbeat, exposed by the console's /metrics per kiosk."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from console_kit import ROLES, Console
from prometheus_client.parser import text_string_to_metric_families

from lockers.console import accounts
from lockers.kiosk.presence import KioskPresence
from lockers.store import site
from lockers.store.db import Database
from lockers.store.latency import HistogramSnapshot, LatencyHistogram
from lockers.store.models import Kiosk, utcnow


def test_buckets_count_each_latency_once_at_its_upper_bound() -> None:
    histogram = LatencyHistogram((0.1, 0.5, 1.0))
    for seconds in (0.05, 0.1, 0.3, 0.5, 0.9, 7.0, -0.2, float("nan")):
        histogram.observe(seconds)
    snapshot = histogram.snapshot()
    assert snapshot.counts == (3, 2, 1, 1)  # -0.2 counts as 0; NaN is not counted
    assert snapshot.count == 7 and snapshot.sum_s == pytest.approx(8.85)
    assert snapshot.cumulative() == [
        ("0.1", 3.0),
        ("0.5", 5.0),
        ("1.0", 6.0),
        ("+Inf", 7.0),
    ]
    assert HistogramSnapshot.from_json(snapshot.as_json()) == snapshot
    with pytest.raises(ValueError):
        LatencyHistogram((0.5, 0.1))


@pytest.mark.parametrize(
    "stored",
    [
        None,
        [],
        {"bounds": [0.1], "counts": [1], "sum": 0.1, "count": 1},  # one count short
        {"bounds": [0.5, 0.1], "counts": [1, 0, 0], "sum": 0.1, "count": 1},
        {"bounds": [0.1], "counts": [1, 1], "sum": 0.1, "count": 3},
        {"bounds": [0.1], "counts": [1, -1], "sum": 0.1, "count": 0},
        {"bounds": [0.1], "counts": [1, 0], "sum": "x", "count": 1},
        {"bounds": [0.1], "counts": [True, 0], "sum": 0.1, "count": 1},
    ],
)
def test_a_stored_histogram_that_does_not_add_up_is_no_metric(stored: object) -> None:
    assert HistogramSnapshot.from_json(stored) is None


def _presence(database: Database, kiosk_id: str) -> KioskPresence:
    identity = site.KioskIdentity(kiosk_id, site.new_instance_token(), kiosk_id, heartbeat_s=5)
    presence = KioskPresence(database, identity)
    with database.transaction() as session:
        presence.register(session)
    return presence


def _stored(database: Database, kiosk_id: str) -> HistogramSnapshot | None:
    with database.transaction() as session:
        kiosk = session.get(Kiosk, kiosk_id)
        assert kiosk is not None
        return HistogramSnapshot.from_json(kiosk.recognition_latency)


def test_the_heartbeat_stores_the_histogram_and_a_restart_counts_from_zero(
    database: Database,
) -> None:
    presence = _presence(database, "kiosk-1")
    assert _stored(database, "kiosk-1") is None  # nothing before the first beat
    presence.recognition_latency.observe(0.2)
    presence.recognition_latency.observe(0.4)
    presence.beat()
    stored = _stored(database, "kiosk-1")
    assert stored is not None and stored.count == 2 and stored.sum_s == pytest.approx(0.6)
    presence.sign_off()
    _presence(database, "kiosk-1")  # the next process of this kiosk
    assert _stored(database, "kiosk-1") is None


def _metrics(console: Console) -> str:
    token = accounts.create_token(console.database, "alice", None, 1, "test", console.clock.now)
    assert ROLES["alice"] == "attendant"  # the lowest role may read /metrics
    client = console.client(Authorization=f"Bearer {token}")
    response = client.get("/metrics")
    assert response.status_code == 200, response.text
    return response.text


def test_metrics_expose_a_histogram_per_kiosk(console: Console) -> None:
    kiosk_1, kiosk_2 = _presence(console.database, "kiosk-1"), _presence(console.database, "k2")
    for seconds in (0.04, 0.12, 0.12, 0.6, 9.0):
        kiosk_1.recognition_latency.observe(seconds)
    kiosk_2.recognition_latency.observe(0.3)
    kiosk_1.beat()
    kiosk_2.beat()
    families = {f.name: f for f in text_string_to_metric_families(_metrics(console))}
    family = families["lockers_recognition_latency_seconds"]
    assert family.type == "histogram"
    samples = {(s.name, s.labels.get("kiosk"), s.labels.get("le")): s.value for s in family.samples}
    assert samples[("lockers_recognition_latency_seconds_bucket", "kiosk-1", "0.05")] == 1
    assert samples[("lockers_recognition_latency_seconds_bucket", "kiosk-1", "0.2")] == 3
    assert samples[("lockers_recognition_latency_seconds_bucket", "kiosk-1", "1.0")] == 4
    assert samples[("lockers_recognition_latency_seconds_bucket", "kiosk-1", "+Inf")] == 5
    assert samples[("lockers_recognition_latency_seconds_count", "kiosk-1", None)] == 5
    assert samples[("lockers_recognition_latency_seconds_sum", "kiosk-1", None)] == (
        pytest.approx(9.88)
    )
    assert samples[("lockers_recognition_latency_seconds_count", "k2", None)] == 1
    assert {s.labels["kiosk"] for s in family.samples} == {"kiosk-1", "k2"}


def test_a_kiosk_counts_its_retrieve_decisions(tmp_path: Path) -> None:
    """The real kiosk composition (store, emulated board, site thread): a registration, then
    a retrieve of that face that opens its locker, is one observation, written by the beat."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "ui"))
    from kiosk_harness import kiosk_settings

    from lockers.app import build_kiosk
    from lockers.kiosk.dto import RegisterOutcome, RetrieveOutcome

    face = np.random.default_rng(7).standard_normal((3, 512)).astype(np.float32)
    face /= np.linalg.norm(face, axis=1, keepdims=True)
    parts = build_kiosk(kiosk_settings(tmp_path), demo=True, liveness=False)
    try:
        backend = parts.backend
        assert backend.site is not None
        model = "facenet-vggface2@test"
        registered = backend.register(face, np.full(3, 0.9, np.float32), model)
        assert registered.outcome is RegisterOutcome.OPENED
        assert backend.site.agent.presence.recognition_latency.snapshot().count == 0
        retrieved = backend.retrieve(face, model)
        assert retrieved.outcome is RetrieveOutcome.OPENED
        snapshot = backend.site.agent.presence.recognition_latency.snapshot()
        assert snapshot.count == 1 and 0 < snapshot.sum_s < 30
        backend.site.beat()
        kiosk_id = parts.settings.database.kiosk_id
        stored = _stored(backend.store.database, kiosk_id)
        assert stored is not None and stored.count == 1
        assert stored.sum_s == pytest.approx(snapshot.sum_s)
        with backend.store.database.transaction() as session:
            row = site.get_kiosk(session, kiosk_id)
            assert row is not None and row.last_beat_at <= utcnow()
    finally:
        parts.close()
