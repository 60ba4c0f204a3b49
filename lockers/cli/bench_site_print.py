"""``lockers bench --site``'s figures as a table (``--json`` prints the object itself)."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table


def _ms(stats: dict[str, Any], key: str) -> str:
    value = stats.get(key)
    return "-" if value is None else f"{value:.0f}"


def print_site(console: Console, result: dict[str, Any]) -> None:
    """One row per figure and backend; the targets beside them (figures, not pass/fail)."""
    console.print(
        f"[bold]site bench[/]: {result['kiosks']} kiosks (each its own bank of "
        f"{result['lockers_per_bank']} lockers and emulated board on a pty), "
        f"{result['active_rentals']} active rentals over the banks; {result['cpu_cores']} CPU "
        f"cores, load {result['load_average_1m']} at start"
    )
    console.print(
        "command -> lock: a staff command's commit to the owning kiosk's board firing the lock; "
        "retrieve: face shown at kiosk 1 -> decision (its unlock command, or 'your locker is at')"
    )
    table = Table("backend", "figure (ms)", "p50", "p95", "max", "n", "target")
    targets = result["targets"]
    for backend, figures in result["backends"].items():
        lock_target = f"p50 <= {targets['command_to_lock_p50_ms'][backend]}"
        rows = [
            ("command -> lock", figures["command_to_lock_ms"], lock_target),
            ("command -> result recorded", figures["command_to_result_ms"], ""),
        ]
        retrieve = figures["retrieve"]
        decision = f"<= {targets['retrieve_face_to_decision_ms']}"
        for case, label in (("own_bank", "own bank"), ("other_bank", "other bank")):
            rows.append((f"retrieve, {label}", retrieve[case]["face_to_decision_ms"], decision))
        for name, stats, target in rows:
            table.add_row(
                backend,
                name,
                _ms(stats, "p50"),
                _ms(stats, "p95"),
                _ms(stats, "max"),
                str(stats.get("n", "")),
                target,
            )
    console.print(table)
    for backend, figures in result["backends"].items():
        retrieve = figures["retrieve"]
        console.print(
            f"{backend}: command results {figures['command_results']}, "
            f"{figures['commands_without_pulse']} without a pulse; retrieve outcomes: own bank "
            f"{_counts(retrieve['own_bank']['outcomes'])}, other bank "
            f"{_counts(retrieve['other_bank']['outcomes'])}; gallery of "
            f"{retrieve['gallery_active_rentals']} loaded in "
            f"{retrieve['gallery_load_at_startup_ms']:.0f} ms"
        )
    for backend, figures in result["backends"].items():
        console.print(f"{backend}: the kiosks wake on {figures['wake_up']}")
    for line in result.get("skipped", []):
        console.print(f"skipped: {line}")


def _counts(outcomes: list[str | None]) -> str:
    counted: dict[str, int] = {}
    for outcome in outcomes:
        key = outcome or "no decision"
        counted[key] = counted.get(key, 0) + 1
    return ", ".join(f"{key} {n}" for key, n in counted.items()) or "none"
