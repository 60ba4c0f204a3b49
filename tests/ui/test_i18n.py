"""Both languages say everything; formatting never raises on screen."""

from __future__ import annotations

import re

from lockers.i18n import STRINGS, tr
from lockers.kiosk.flow import Guidance, Problem
from lockers.vision.quality import QualityIssue


def test_both_languages_define_the_same_keys_and_fields() -> None:
    en, ko = STRINGS["en"], STRINGS["ko"]
    assert set(en) == set(ko)
    for key in en:
        fields_en = set(re.findall(r"{(\w+)}", en[key]))
        assert fields_en == set(re.findall(r"{(\w+)}", ko[key])), key


def test_every_code_the_flow_can_show_has_a_text() -> None:
    codes = [f"guide.{issue.value}" for issue in QualityIssue]
    codes += [f"guide.{g.value}" for g in Guidance]
    codes += [f"fail.{p.value}" for p in Problem]
    for key in codes:
        assert key in STRINGS["en"], key


def test_missing_values_and_keys_fall_back_quietly() -> None:
    assert tr("home.free", "en") == "{free} of {total} lockers free"
    assert tr("no.such.key", "ko") == "no.such.key"
    assert tr("home.free", "fr", free=1, total=2) == "1 of 2 lockers free"


def test_every_challenge_move_has_a_prompt_and_the_hold_time_is_shown(qtbot: object) -> None:
    from lockers.kiosk.flow import FlowView, Phase
    from lockers.ui.screens.camera import CameraScreen
    from lockers.vision.liveness import LivenessState, LivenessStatus, Turn

    for turn in Turn:
        for lang in ("en", "ko"):
            assert f"live.turn_{turn.value}" in STRINGS[lang]
    screen = CameraScreen()
    qtbot.addWidget(screen)  # type: ignore[attr-defined]
    screen.set_language("en")
    live = LivenessState(LivenessStatus.TURNING, Turn.UP, 1, 3, hold_s=0.8)
    screen.show_view(FlowView(phase=Phase.LIVENESS, liveness=live))
    assert screen.prompt.text() == "⬆"
    assert screen.guidance.text() == "Tilt your head UP\nHold it for 0.8 s"
    assert screen.progress.format() == "1 of 3 turns"


def test_the_one_move_of_an_unsure_score_is_explained_in_one_line_with_the_arrow(
    qtbot: object,
) -> None:
    from lockers.kiosk.flow import FlowView, Phase
    from lockers.ui.main_window import CAMERA_PHASES
    from lockers.ui.screens.camera import CameraScreen
    from lockers.vision.liveness import LivenessState, LivenessStatus, Turn

    assert Phase.CHALLENGE in CAMERA_PHASES
    screen = CameraScreen()
    qtbot.addWidget(screen)  # type: ignore[attr-defined]
    live = LivenessState(LivenessStatus.TURNING, Turn.LEFT, 0, 1, hold_s=0.6)
    for lang in ("en", "ko"):
        screen.set_language(lang)
        screen.show_view(FlowView(phase=Phase.CHALLENGE, liveness=live, retrieving=True))
        line = tr("live.one_move", lang)
        assert screen.title.text() == line and "\n" not in line and len(line) <= 60
        assert screen.prompt.text() == "⬅"
        assert screen.guidance.text().startswith(tr("live.turn_left", lang))
