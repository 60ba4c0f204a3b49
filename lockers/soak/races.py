"""Two unlucky moments with a defined outcome, checked every cycle.

- ``staff_open_during_registration``: staff's force-open must not go ahead on a locker while a
  registration's unlock intent there is pending (committed, not yet pulsed and recorded).
  Defined outcome: the force-open is refused (``StaffActionRefused``, nothing opened, nothing
  flagged); staff try again a moment later, when the locker is the customer's (occupied) or
  free again. Otherwise staff "empty" a locker the customer fills a moment later, and the reset
  that follows ends the customer's rental with their belongings inside.
- ``false_jams``: a door whose latch the emulator released (the pulse acted on a closed door;
  a door still open from the previous customer that shuts right after the pulse does not
  count: the driver saw it closed throughout, and jammed is a fair answer) must never be
  answered as a definitive ``jammed`` (an alert of the driver, and for a registration a
  rolled-back rental): when a reply was lost (bad CRC, garbage) the answer is ``unconfirmed``
  (the pulse may have acted: rental kept, locker flagged for staff).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from lockers.soak.kiosks import Pulse
from lockers.soak.ops import OpKind, OpRecord

RACE_INVARIANTS = ("staff_open_during_registration", "false_jams")


@dataclass(frozen=True)
class Finding:
    invariant: str
    detail: str
    label: str | None
    person: int | None


def _pending_register(record: OpRecord) -> tuple[str, float, float] | None:
    """(locker, from, to): when a registration's intent was committed and not yet pulsed (a
    killed one stays pending until its kiosk restarts, after the cycle)."""
    report, steps = record.report, record.steps
    if record.op.kind is not OpKind.REGISTER or "register:committed" not in steps:
        return None
    label = None if report is None else report.label
    if label is None:
        return None
    end = steps.get("register:pulsed", float("inf") if report is None else record.finished)
    return label, steps["register:committed"], end


def staff_open_races(records: Sequence[OpRecord]) -> list[Finding]:
    """Force-opens committed while a registration's intent on the same locker was pending."""
    found = []
    pending = [p for r in records if (p := _pending_register(r)) is not None]
    registrations = [r for r in records if _pending_register(r) is not None]
    for record in records:
        opened_at = record.steps.get("force_open:committed")
        if record.op.kind is not OpKind.STAFF_RESET or opened_at is None:
            continue
        for (label, since, until), register in zip(pending, registrations, strict=True):
            if label == record.op.label and since < opened_at < until:
                found.append(
                    Finding(
                        "staff_open_during_registration",
                        f"staff on {record.kiosk_id} force-opened locker {label} while person "
                        f"{register.op.person}'s registration on {register.kiosk_id} had "
                        "claimed it and not yet opened it",
                        label,
                        register.op.person,
                    )
                )
    return found


def false_jams(
    records: Sequence[OpRecord], pulses: Iterable[Pulse], labels: dict[tuple[int, int], str]
) -> list[Finding]:
    """Ops answered (or alerted) ``jammed`` although their lock's latch released."""
    pulses = list(pulses)
    found = []
    for record in records:
        report = record.report
        if report is None:
            continue
        said_jammed = report.outcome == "jammed" or "jammed" in report.board_events
        if not said_jammed:
            continue
        released = [
            labels.get((p.board, p.channel))
            for p in pulses
            if p.kiosk == record.kiosk
            and p.released
            and not p.was_open  # a door left open that shut right after the pulse: not this one
            and record.started <= p.at <= record.finished
        ]
        if released:
            found.append(
                Finding(
                    "false_jams",
                    f"{record.kiosk_id}'s {record.op.kind.value} (op {record.op.seq}) answered "
                    f"{report.outcome!r} with a jammed alert, yet the latch of locker "
                    f"{released[0]} released (fault: {record.fault or 'none'})",
                    released[0],
                    record.op.person,
                )
            )
    return found


def outside_bank(pulse: Pulse, label: str | None, bank_of: Mapping[str, int]) -> str:
    """Why ``pulse`` fired a lock outside its kiosk's bank ("" when it is the kiosk's own, or
    when the soak runs without banks)."""
    owner = bank_of.get(label or "", pulse.kiosk) if bank_of else pulse.kiosk
    if owner == pulse.kiosk and (label is not None or not bank_of):
        return ""
    return (
        f"kiosk {pulse.kiosk} fired board {pulse.board} channel {pulse.channel}, not in its "
        f"bank (locker {label}, kiosk {owner})"
    )
