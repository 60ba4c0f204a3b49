"""The prompt files built by the real espeak-ng: every text speakable in both languages, the
site's recordings first, changed texts rebuilt, a clear error without espeak-ng."""

from __future__ import annotations

import logging
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from lockers.cli import app
from lockers.i18n import LANGUAGES, STRINGS
from lockers.prompts import Clip, PromptError, PromptLibrary, build_language, read_clip
from lockers.prompts.catalogue import segments, small_prompts
from lockers.prompts.wav import write_clip
from lockers.ui.voice_port import Utterance

MIN_TEXT_S, MAX_PROMPT_S = 0.3, 15.0
MIN_PEAK, MIN_RMS = 0.1, 0.01  # full scale 1.0: speech, not silence or hiss


def assert_speech(clip: Clip, what: str) -> None:
    assert clip.peak >= MIN_PEAK and clip.rms >= MIN_RMS, f"{what} is silent"
    assert clip.seconds <= MAX_PROMPT_S, f"{what} lasts {clip.seconds:.1f} s"


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_text_has_a_spoken_prompt(library: PromptLibrary, language: str) -> None:
    for key in STRINGS["en"]:
        parts = [s.prompt for s in segments(key, language) if s.prompt]
        if not parts:
            continue  # only fields ("{text}"): said by the prompts of what they hold
        seconds = 0.0
        for name in parts:
            path = library.find(language, name)
            assert path is not None, f"{language}/{name} was not built"
            clip = read_clip(path)
            assert_speech(clip, f"{language}/{name}")
            seconds += clip.seconds
        assert seconds >= MIN_TEXT_S, f"{key} ({language}) lasts only {seconds:.2f} s"
    for prompt in small_prompts(language):
        path = library.find(language, prompt.name)
        assert path is not None
        assert_speech(read_clip(path), f"{language}/{prompt.name}")


def test_resolve_speaks_fields_from_small_prompts(library: PromptLibrary) -> None:
    def names(utterance: Utterance, language: str) -> list[str]:
        return [p.stem for p in library.resolve(utterance, language)]

    assert names(Utterance("ret.open.title", {"label": "A-12"}), "en") == [
        "ret.open.title#0",
        "letter.a",
        "num.12",
        "ret.open.title#1",
    ]
    assert names(Utterance("ret.open.title", {"label": "A-12"}), "ko") == [
        "letter.a",
        "num.12",
        "ret.open.title#1",
    ]
    assert names(Utterance("home.free", {"free": 3, "total": 312}), "ko") == [
        "home.free#0",
        "num.3",
        "home.free#1",
        "num.300",
        "num.12",
    ]
    assert names(Utterance("live.hold", {"s": 2}), "en") == ["live.hold#0", "num.2", "live.hold#1"]
    # a staff member's name is not spoken; the rest of the sentence is
    assert names(Utterance("staff.pin_for", {"name": "김민수"}), "ko") == ["staff.pin_for#1"]
    # a missing value: the fixed parts only
    assert names(Utterance("ret.wait", {}), "en") == ["ret.wait#0", "ret.wait#1"]
    assert all(p.parent.name == "ko" for p in library.resolve(Utterance("common.done"), "ko"))


def test_a_site_recording_is_played_before_the_built_prompt(
    built_prompts: Path, tmp_path: Path
) -> None:
    site = tmp_path / "site"
    (site / "ko").mkdir(parents=True)
    recording = site / "ko" / "reg.open.body.wav"
    write_clip(recording, Clip(np.sin(np.linspace(0, 2000, 44100)).astype(np.float32), 44100))
    library = PromptLibrary(built_prompts, site)
    files = library.resolve(Utterance("reg.open.body"), "ko")
    assert files == [recording]
    assert library.resolve(Utterance("reg.open.body"), "en")[0].parent == built_prompts / "en"
    found = library.completeness("ko")
    assert found.complete and found.site == 1


def test_a_missing_prompt_is_logged_and_left_out(
    built_prompts: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    copy = tmp_path / "prompts"
    shutil.copytree(built_prompts, copy)
    (copy / "en" / "num.12.wav").unlink()
    library = PromptLibrary(copy)
    with caplog.at_level(logging.WARNING, logger="lockers.prompts"):
        files = library.resolve(Utterance("ret.open.title", {"label": "A-12"}), "en")
    assert [p.stem for p in files] == ["ret.open.title#0", "letter.a", "ret.open.title#1"]
    assert "prompt en/num.12 missing" in caplog.text
    found = library.completeness("en")
    assert found.missing == ["num.12"] and not found.complete


def test_a_changed_text_is_rebuilt_and_nothing_else(
    built_prompts: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    copy = tmp_path / "prompts"
    shutil.copytree(built_prompts, copy)
    (copy / "en" / "retired.text.wav").write_bytes(b"old")
    assert build_language(copy, "en").built == []
    monkeypatch.setitem(STRINGS["en"], "common.done", "All finished")
    library = PromptLibrary(copy)
    assert library.completeness("en").stale == ["common.done"]
    before = read_clip(copy / "en" / "common.done.wav").seconds
    started = time.monotonic()
    report = build_language(copy, "en")
    assert report.built == ["common.done"] and report.removed == []
    assert time.monotonic() - started < 10
    assert read_clip(copy / "en" / "common.done.wav").seconds != before
    assert library.completeness("en").complete
    assert not (copy / "en" / "retired.text.wav").exists()  # removed on the first build


def test_without_espeak_the_build_says_how_to_install_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(PromptError) as raised:
        build_language(tmp_path / "prompts", "ko")
    assert "espeak-ng is not installed" in raised.value.message
    assert "apt-get install espeak-ng" in raised.value.hint
    assert not (tmp_path / "prompts" / "ko").exists()


def test_cli_build_and_check(built_prompts: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    shutil.copytree(built_prompts, data / "prompts")
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"data_dir": str(data)}), encoding="utf-8")
    runner = CliRunner()
    checked = runner.invoke(app, ["--config", str(config), "prompts", "check"])
    assert checked.exit_code == 0, checked.output
    assert "ko: all " in checked.output and "en: all " in checked.output
    (data / "prompts" / "ko" / "common.back.wav").unlink()
    checked = runner.invoke(app, ["--config", str(config), "prompts", "check", "-l", "ko"])
    assert checked.exit_code == 1
    assert "missing: common.back" in checked.output
    assert "fix: lockers prompts build --language ko" in checked.output
    built = runner.invoke(app, ["--config", str(config), "prompts", "build", "-l", "ko"])
    assert built.exit_code == 0, built.output
    assert "ko: 1 built" in built.output
    wrong = runner.invoke(app, ["--config", str(config), "prompts", "build", "-l", "fr"])
    assert wrong.exit_code == 2 and "'fr' is not one of ko, en" in wrong.output
