"""``lockers doctor``'s audio checks: an output for the voice (none: the kiosk will be
silent), and the prompts of ``ui.language`` complete (missing: the command that builds them).
"""

from __future__ import annotations

import importlib.metadata as metadata
import shutil
from pathlib import Path

import pytest

from lockers.config import Settings
from lockers.doctor import LIVE_AT_STARTUP, audio
from lockers.doctor.runner import CHECKS
from lockers.prompts import build_language

needs_espeak = pytest.mark.skipif(
    shutil.which("espeak-ng") is None,
    reason="espeak-ng is not installed (.ci/run installs it: apt-get install espeak-ng)",
)


def test_the_checks_are_registered() -> None:
    assert {"audio", "prompts"} <= set(CHECKS)
    assert "audio" in LIVE_AT_STARTUP and "prompts" not in LIVE_AT_STARTUP


def test_voice_off_needs_no_audio(tmp_path: Path) -> None:
    result = audio.check_audio_output(Settings(data_dir=tmp_path, accessibility={"voice": False}))
    assert result.status == "ok" and "voice guidance is off" in result.detail


def test_no_sound_server_warns_that_the_kiosk_will_be_silent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if audio.addons_problem() is not None:
        pytest.skip(f"Qt Multimedia unavailable here: {audio.addons_problem()}")
    monkeypatch.setenv("PULSE_SERVER", f"unix:{tmp_path / 'no-such-server'}")
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    monkeypatch.setenv("PIPEWIRE_REMOTE", str(tmp_path / "no-such-pipewire"))
    result = audio.check_audio_output(Settings(data_dir=tmp_path))
    assert result.status == "warn"
    assert "no audio output device" in result.detail
    assert "the kiosk will be silent" in result.detail
    assert "pactl list sinks short" in result.fix


def test_missing_or_mismatched_addons_say_which_version_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_version = metadata.version

    def version(name: str) -> str:
        if name == "PySide6-Addons":
            raise metadata.PackageNotFoundError(name)
        return real_version(name)

    monkeypatch.setattr(audio.metadata, "version", version)
    result = audio.check_audio_output(Settings(data_dir=tmp_path))
    assert result.status == "warn" and "PySide6-Addons" in result.detail
    assert f"PySide6-Addons=={real_version('PySide6-Essentials')}" in result.fix

    monkeypatch.setattr(
        audio.metadata, "version", lambda name: "6.9.0" if name == "PySide6-Addons" else "6.11.3"
    )
    assert "does not match PySide6-Essentials 6.11.3" in str(audio.addons_problem())


@needs_espeak
def test_prompts_complete_missing_and_outdated(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = Settings(data_dir=tmp_path, ui={"language": "ko"})
    missing = audio.check_prompts(settings)
    assert missing.status == "warn" and "289 missing" not in missing.fix
    assert "missing" in missing.detail
    assert missing.fix.startswith("lockers prompts build --language ko")

    build_language(tmp_path / "prompts", "ko")
    only_ko = audio.check_prompts(settings)
    assert only_ko.status == "warn"  # the English screen would be silent
    assert "all" in only_ko.detail and "the en prompts are incomplete" in only_ko.detail

    build_language(tmp_path / "prompts", "en")
    complete = audio.check_prompts(settings)
    assert complete.status == "ok" and complete.detail.startswith("all ")

    from lockers.i18n import STRINGS

    monkeypatch.setitem(STRINGS["ko"], "common.done", "끝났습니다")
    outdated = audio.check_prompts(settings)
    assert outdated.status == "warn" and "1 outdated" in outdated.detail
