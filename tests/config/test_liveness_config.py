"""Config: the liveness tiers (threshold, confident) and the registration's head moves."""

from __future__ import annotations

from pathlib import Path

import pytest

from lockers.config import load_settings
from lockers.config.liveness import DEFAULT_CONFIDENT, LivenessSettings
from lockers.errors import ConfigError


def _load(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> LivenessSettings:
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return load_settings(path, env=env or {}).liveness


def test_confident_below_the_threshold_is_refused_with_a_clear_message(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        _load(tmp_path, "liveness:\n  threshold: 0.6\n  confident: 0.5\n")
    message = str(info.value)
    assert "liveness" in message and "confident (0.5) must be at least threshold (0.6)" in message
    # The same from the environment: a threshold raised above the file's confident.
    with pytest.raises(ConfigError, match="must be at least threshold"):
        _load(tmp_path, "liveness:\n  confident: 0.7\n", {"LOCKERS_LIVENESS__THRESHOLD": "0.8"})


def test_equal_threshold_and_confident_mean_no_challenge_tier(tmp_path: Path) -> None:
    live = _load(tmp_path, "liveness:\n  threshold: 0.6\n  confident: 0.6\n")
    assert live.threshold == live.confident == 0.6
    assert _load(tmp_path, "liveness:\n  confident: 1.0\n").confident == 1.0
    with pytest.raises(ConfigError, match="confident"):
        _load(tmp_path, "liveness:\n  confident: 1.5\n")


def test_register_turns_defaults_to_one_and_accepts_zero(tmp_path: Path) -> None:
    assert _load(tmp_path, "").register_turns == 1
    none = _load(tmp_path, "liveness:\n  register_turns: 0\n")
    assert none.register_turns == 0
    # The deprecated `turns` reads the stricter side until every reader moves on.
    assert none.turns == 1
    with pytest.raises(ConfigError, match="register_turns"):
        _load(tmp_path, "liveness:\n  register_turns: -1\n")


def test_the_old_turns_key_still_reads_as_register_turns(tmp_path: Path) -> None:
    live = _load(tmp_path, "liveness:\n  turns: 3\n")
    assert live.register_turns == 3 and live.turns == 3
    with pytest.raises(ConfigError, match="old name of register_turns"):
        _load(tmp_path, "liveness:\n  turns: 3\n  register_turns: 1\n")


def test_a_file_that_only_raises_the_threshold_keeps_working_without_a_challenge_tier(
    tmp_path: Path,
) -> None:
    live = _load(tmp_path, "liveness:\n  threshold: 0.95\n")
    assert live.confident == live.threshold == 0.95
    from_env = _load(tmp_path, "", {"LOCKERS_LIVENESS__THRESHOLD": "0.97"})
    assert from_env.confident == 0.97
    assert _load(tmp_path, "liveness:\n  threshold: 0.1\n").confident == DEFAULT_CONFIDENT
