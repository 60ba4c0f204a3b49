"""``lockers bench --site`` on a tiny site (SQLite, real kiosk processes, boards on ptys): every
figure is there with its samples and the outcomes a site must give. Timings are not checked."""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console
from typer.testing import CliRunner

from lockers.cli import app
from lockers.cli.bench_site_print import print_site
from lockers.errors import LockersError

FIGURE_KEYS = {"p50", "p95", "max", "n"}


def _bench(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["bench", "--site", *args])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


def _check_figure(figure: dict[str, Any], n: int) -> None:
    assert set(figure) == FIGURE_KEYS and figure["n"] == n
    assert all(isinstance(figure[key], float) for key in ("p50", "p95", "max"))
    assert figure["p50"] <= figure["p95"] <= figure["max"]


def test_site_bench_reports_commands_and_retrieves_of_a_tiny_site() -> None:
    code, out = _bench("--rentals", "30", "--commands", "3", "--retrieves", "2", "--json")
    assert code == 0, out
    result = json.loads(out)
    assert result["kiosks"] == 3 and result["active_rentals"] == 30
    assert list(result["backends"]) == ["sqlite"]  # no PostgreSQL URL in the test's environment
    assert any(line.startswith("postgresql:") for line in result["skipped"])
    sqlite = result["backends"]["sqlite"]
    # Every command reached the owning kiosk's board (its emulator saw the lock fire) and opened.
    assert sqlite["command_results"] == {"opened": 3} and sqlite["commands_without_pulse"] == 0
    _check_figure(sqlite["command_to_lock_ms"], 3)
    _check_figure(sqlite["command_to_result_ms"], 3)
    retrieve = sqlite["retrieve"]
    assert retrieve["own_bank"]["outcomes"] == ["opened", "opened"]
    assert retrieve["other_bank"]["outcomes"] == ["at_other_kiosk", "at_other_kiosk"]
    for case in ("own_bank", "other_bank"):
        _check_figure(retrieve[case]["face_to_decision_ms"], 2)
        _check_figure(retrieve[case]["service_call_to_decision_ms"], 2)
    # The 30 seeded rentals and the two renters of kiosk 2's bank; kiosk 1's renters retrieved.
    assert retrieve["gallery_active_rentals"] == 32
    console = Console(record=True, width=140)
    print_site(console, result)
    text = console.export_text()
    assert "command -> lock" in text and "p50 <= 1500" in text and "skipped: postgresql" in text


def _refusal(*args: str) -> LockersError:
    result = CliRunner().invoke(app, ["bench", "--site", *args])
    # main() prints a LockersError as the error and its hint, without a traceback.
    assert isinstance(result.exception, LockersError), result.output
    return result.exception


def test_site_bench_refuses_a_site_of_one_kiosk_and_a_non_postgres_url() -> None:
    error = _refusal("--kiosks", "1")
    assert "at least 2 kiosks" in error.message and error.hint
    error = _refusal("--database-url", "sqlite:///elsewhere.db")
    assert "must name a PostgreSQL server" in error.message and "postgresql" in error.hint
