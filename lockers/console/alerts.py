"""Alerts: derived from the site's state each time they are asked for, acknowledged by a named
staff member (audited). Each alert has a stable key (what, where, since when), so the same
condition stays one alert and a new occurrence is a new one.

Kinds: kiosk offline, door forced open or jammed (a ``door_alert`` entry the kiosk wrote in the
audit log), door jammed or locker flagged for staff, door left open longer than
``console.door_open_alert_s``, no free locker at a kiosk, rental overdue, presentation attacks
repeated at a kiosk (``console.pad_alert_count`` within ``console.pad_alert_window_min``),
assistance requested (a customer pressed "call staff" at a kiosk: an ``assistance_requested``
entry the kiosk wrote in the audit log).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from lockers.console.context import ConsoleContext
from lockers.console.site_port import KioskView
from lockers.errors import LockersError
from lockers.store import audit, console_queries, console_repo
from lockers.store.audit_values import AuditAction, AuditOutcome
from lockers.store.console_queries import LockerRow
from lockers.store.db import Session


class UnknownAlert(LockersError):
    """An acknowledgement for an alert that is not (or no longer) open."""


@dataclass(frozen=True)
class Alert:
    key: str
    kind: str
    kiosk_id: str
    locker_label: str | None
    since: datetime
    message: str
    acknowledged_by: str | None = None
    acknowledged_at: datetime | None = None


def _kiosk_alerts(kiosks: list[KioskView], grid: list[LockerRow]) -> list[Alert]:
    alerts: list[Alert] = []
    for kiosk in kiosks:
        if kiosk.online is False and kiosk.last_beat_at is not None:
            alerts.append(
                Alert(
                    f"kiosk_offline:{kiosk.kiosk_id}:{kiosk.last_beat_at.isoformat()}",
                    "kiosk_offline",
                    kiosk.kiosk_id,
                    None,
                    kiosk.last_beat_at,
                    f"{kiosk.display_name} is offline "
                    f"(last heartbeat {kiosk.last_beat_at:%H:%M:%S}Z)",
                )
            )
        bank = [row for row in grid if row.kiosk_id == kiosk.kiosk_id]
        free = [r for r in bank if r.status == "available" and not r.attention]
        if bank and not free:
            since = max(r.updated_at for r in bank)
            alerts.append(
                Alert(
                    f"no_free_locker:{kiosk.kiosk_id}:{since.isoformat()}",
                    "no_free_locker",
                    kiosk.kiosk_id,
                    None,
                    since,
                    f"no free locker at {kiosk.display_name}",
                )
            )
    return alerts


def _locker_alerts(grid: list[LockerRow], now: datetime, door_open_s: float) -> list[Alert]:
    alerts: list[Alert] = []
    for row in grid:
        if row.attention:
            kind = "door_jammed" if "jam" in row.attention.lower() else "locker_flagged"
            alerts.append(
                Alert(
                    f"{kind}:{row.id}:{row.updated_at.isoformat()}",
                    kind,
                    row.kiosk_id,
                    row.label,
                    row.updated_at,
                    f"locker {row.label}: {row.attention}",
                )
            )
        if row.door_state == "open" and (now - row.updated_at).total_seconds() > door_open_s:
            alerts.append(
                Alert(
                    f"door_open:{row.id}:{row.updated_at.isoformat()}",
                    "door_left_open",
                    row.kiosk_id,
                    row.label,
                    row.updated_at,
                    f"locker {row.label}'s door is open",
                )
            )
        if row.overdue and row.rental_id is not None and row.ends_at is not None:
            alerts.append(
                Alert(
                    f"overdue:{row.rental_id}",
                    "rental_overdue",
                    row.kiosk_id,
                    row.label,
                    row.ends_at,
                    f"locker {row.label} is overdue",
                )
            )
    return alerts


# Alerts read from the audit log (doors, calls for staff) stay listed this long.
DOOR_EVENT_WINDOW = timedelta(hours=24)


def _door_event_alerts(session: Session, now: datetime) -> list[Alert]:
    """A door forced open (or jammed) as the owning kiosk recorded it in the audit log
    (action ``door_alert``, actor ``kiosk:<id>``): one alert per entry of the last day."""
    entries = audit.recent(
        session, action=AuditAction.DOOR_ALERT.value, since=now - DOOR_EVENT_WINDOW
    )
    alerts: list[Alert] = []
    for entry in entries:
        forced = entry.outcome == AuditOutcome.FORCED_OPEN.value
        what = "forced open" if forced else "jammed"
        label = entry.locker_label
        alerts.append(
            Alert(
                f"door_event:{entry.id}",
                "door_forced_open" if forced else "door_jammed",
                entry.actor.removeprefix("kiosk:"),
                label,
                entry.at,
                f"locker {label or '?'}'s door {what}"
                + (f": {entry.reason}" if entry.reason else ""),
            )
        )
    return alerts


def _detail_fields(reason: str | None) -> dict[str, str]:
    """The ``key=value`` words of a kiosk's audit reason (``kiosk=k2 screen=home ...``)."""
    words = (word.partition("=") for word in (reason or "").split())
    return {key: value for key, sep, value in words if sep and value}


def _assistance_alerts(session: Session, now: datetime) -> list[Alert]:
    """A customer pressed "call staff" at a kiosk (action ``assistance_requested``, actor
    ``kiosk:<id>``, the screen and language, sometimes a locker, in its reason): one alert per
    press of the last day, until a manager acknowledges it."""
    entries = audit.recent(
        session, action=AuditAction.ASSISTANCE_REQUESTED.value, since=now - DOOR_EVENT_WINDOW
    )
    alerts: list[Alert] = []
    for entry in entries:
        fields = _detail_fields(entry.reason)
        kiosk_id = (
            entry.actor.removeprefix("kiosk:")
            if entry.actor.startswith("kiosk:")
            else fields.get("kiosk", "?")
        )
        label = entry.locker_label or fields.get("locker")
        where = [f"screen {fields['screen']}"] if "screen" in fields else []
        where += [f"locker {label}"] if label else []
        where += [f"language {fields['language']}"] if "language" in fields else []
        alerts.append(
            Alert(
                f"assistance:{entry.id}",
                "assistance_requested",
                kiosk_id,
                label,
                entry.at,
                f"assistance requested at {kiosk_id}" + (f" ({', '.join(where)})" if where else ""),
            )
        )
    return alerts


def open_alerts(ctx: ConsoleContext) -> list[Alert]:
    """Every current alert, newest first, with who acknowledged it (if anyone)."""
    now = ctx.clock()
    config = ctx.settings.console
    window_start = now - timedelta(minutes=config.pad_alert_window_min)
    with ctx.database.transaction() as session:
        kiosks = ctx.site.kiosks(session, now)
        grid = console_queries.locker_grid(session, now)
        attacks = console_queries.presentation_attacks_since(session, window_start)
        alerts = _kiosk_alerts(kiosks, grid) + _locker_alerts(grid, now, config.door_open_alert_s)
        alerts += _door_event_alerts(session, now)
        alerts += _assistance_alerts(session, now)
        bucket = int(window_start.timestamp() // (config.pad_alert_window_min * 60))
        for actor, count in attacks:
            if count >= config.pad_alert_count and actor.startswith("kiosk:"):
                kiosk_id = actor.removeprefix("kiosk:")
                alerts.append(
                    Alert(
                        f"presentation_attacks:{kiosk_id}:{bucket}",
                        "presentation_attacks",
                        kiosk_id,
                        None,
                        window_start,
                        f"{count} presentation attacks at {kiosk_id} in "
                        f"{config.pad_alert_window_min:g} min",
                    )
                )
        acks = console_repo.acknowledged(session, [a.key for a in alerts])
    alerts = [
        Alert(
            **{**a.__dict__, "acknowledged_by": acks[a.key][0], "acknowledged_at": acks[a.key][1]}
        )
        if a.key in acks
        else a
        for a in alerts
    ]
    return sorted(alerts, key=lambda a: a.since, reverse=True)


def acknowledge(ctx: ConsoleContext, key: str, staff: str, note: str = "") -> None:
    """Record that ``staff`` saw the alert (audited).

    Raises:
        UnknownAlert: no open alert has that key.
    """
    current = {a.key: a for a in open_alerts(ctx)}
    alert = current.get(key)
    if alert is None:
        raise UnknownAlert(f"there is no open alert {key!r}", hint="reload the alerts page")
    now = ctx.clock()
    with ctx.database.transaction() as session:
        if console_repo.acknowledge(session, key, staff, now, note.strip() or None):
            audit.append(
                session,
                at=now,
                actor=f"staff:{staff}",
                action=AuditAction.ALERT_ACK,
                outcome=AuditOutcome.OK,
                locker_label=alert.locker_label,
                reason=f"{alert.kind} at {alert.kiosk_id}: {alert.message}"
                + (f" ({note.strip()})" if note.strip() else ""),
            )
