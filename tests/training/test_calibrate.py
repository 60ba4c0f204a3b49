"""Calibration pieces: the 1:N simulation by hand, and config edits that keep comments."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import yaml

from lockers.errors import ConfigError
from lockers.training.calibrate import simulate_identification
from lockers.training.config_edit import set_scalars, update_config_file


def _unit(deg: float) -> list[float]:
    return [math.cos(math.radians(deg)), math.sin(math.radians(deg))]


def test_identification_simulation_by_hand() -> None:
    # A at 0° and 10°, B at 90°, C at 180°, D at 5° (a look-alike of A).
    emb = np.array([_unit(0), _unit(10), _unit(90), _unit(180), _unit(5)], dtype=np.float32)
    labels = np.array([0, 0, 1, 2, 3])
    at_0, at_half = simulate_identification(emb, labels, threshold=0.9, margins=(0.0, 0.5))
    # Genuine probes A1, A2: D (cos 5°) beats their own A (cos 10°) by 0.011 → taken for D at
    # margin 0, refused at margin 0.5. Strangers: A1, A2 (→ D) and D1 (→ A) pass both margins.
    assert at_0 == pytest.approx(
        {
            "margin": 0.0,
            "correct_accept_rate": 0.0,
            "misidentification_rate": 1.0,
            "stranger_accept_rate": 0.6,
            "wrong_accept_rate": 5 / 7,
        }
    )
    assert at_half == pytest.approx(
        {
            "margin": 0.5,
            "correct_accept_rate": 0.0,
            "misidentification_rate": 0.0,
            "stranger_accept_rate": 0.6,
            "wrong_accept_rate": 3 / 7,
        }
    )


def test_identification_accepts_well_separated_people() -> None:
    emb = np.array([_unit(0), _unit(10), _unit(90), _unit(180)], dtype=np.float32)
    (row,) = simulate_identification(emb, np.array([0, 0, 1, 2]), 0.9, (0.1,))
    assert row["correct_accept_rate"] == 1.0 and row["wrong_accept_rate"] == 0.0


CONFIG = """\
# kiosk config
recognition:
  weights: models/w.pt          # the file
  threshold: 0.55               # minimum cosine
  margin: 0.08                  # best minus second

ui:
  language: en
"""


def test_set_scalars_keeps_comments_and_columns() -> None:
    new, kept = set_scalars(CONFIG, "recognition", {"threshold": 0.613, "margin": 0.05})
    assert kept
    assert "  threshold: 0.613              # minimum cosine\n" in new
    assert "  margin: 0.05                  # best minus second\n" in new
    assert new.startswith("# kiosk config\n") and new.endswith("  language: en\n")


def test_set_scalars_adds_missing_key_and_section() -> None:
    new, kept = set_scalars("ui:\n  language: en\n", "recognition", {"threshold": 0.6})
    assert kept and yaml.safe_load(new) == {
        "ui": {"language": "en"},
        "recognition": {"threshold": 0.6},
    }
    new, _ = set_scalars(
        "recognition:\n  weights: x\n# c\nui: {}\n", "recognition", {"margin": 0.1}
    )
    assert yaml.safe_load(new)["recognition"] == {"weights": "x", "margin": 0.1}


def test_flow_style_section_is_rewritten_and_reported() -> None:
    new, kept = set_scalars("recognition: {threshold: 0.3}\n", "recognition", {"threshold": 0.5})
    assert not kept and yaml.safe_load(new) == {"recognition": {"threshold": 0.5}}


def test_update_config_file_validates_and_keeps_backup(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(CONFIG)
    assert update_config_file(path, "recognition", {"threshold": 0.7, "margin": 0.1})
    assert "# minimum cosine" in path.read_text()
    assert (tmp_path / "config.yaml.bak").read_text() == CONFIG
    before = path.read_text()
    with pytest.raises(ConfigError, match="threshold"):
        update_config_file(path, "recognition", {"threshold": 5.0})  # not a cosine
    assert path.read_text() == before  # a rejected edit leaves the file alone
    assert not list(tmp_path.glob(".config.yaml.*"))
