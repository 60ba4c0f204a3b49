"""The passive anti-spoofing check through the whole kiosk: real detector, store, board
emulator and screens; doubles only at the model boundary (the embedder, and the anti-spoofing
models, whose real run on real photos and attack material is tested in tests/vision)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from kiosk_harness import IdentityEmbedder, ScriptedCamera, kiosk_settings
from test_kiosk_flows import WAIT_MS, active_rentals, click, register, template_count, wait_phase

from lockers.app import KioskParts, build_kiosk
from lockers.kiosk.flow import Phase, Problem
from lockers.store import audit
from lockers.ui.main_window import MainWindow
from lockers.vision.liveness import LivenessConfig, Turn
from lockers.vision.pad import PadScore

ONE_MOVE = LivenessConfig(turns=1, directions=tuple(Turn), turn_timeout_s=1.5, hold_s=(0.3, 1.2))


class SwitchablePad:
    """The model-boundary double: "real" unless the test says the camera now sees an attack."""

    model_version = "pad-double"

    def __init__(self) -> None:
        self.attack: str | None = None
        self.calls = 0

    def score(self, image: npt.NDArray[np.uint8], box: tuple[float, ...]) -> PadScore:
        self.calls += 1
        if self.attack == "screen":
            return PadScore(((0.05, 0.15, 0.8), (0.1, 0.2, 0.7)))
        if self.attack == "print":
            return PadScore(((0.8, 0.15, 0.05), (0.7, 0.2, 0.1)))
        if self.attack == "unsure":  # between liveness.threshold and liveness.confident
            return PadScore(((0.2, 0.66, 0.14), (0.14, 0.66, 0.2)))
        return PadScore(((0.02, 0.95, 0.03), (0.05, 0.9, 0.05)))


@pytest.fixture
def pad() -> SwitchablePad:
    return SwitchablePad()


@pytest.fixture
def kiosk(tmp_path: Path, camera: ScriptedCamera, pad: SwitchablePad) -> Iterator[KioskParts]:
    parts = build_kiosk(
        kiosk_settings(tmp_path),
        demo=True,
        embedder=IdentityEmbedder(camera),  # type: ignore[arg-type]
        camera_factory=lambda: camera,
        liveness=False,
        passive=True,
        pad=pad,
        # The one head move of an unsure retrieve (a replayed photo cannot turn: no register
        # moves here), with a short time limit so that a photo's failure comes quickly.
        flow_overrides={"capture_frames": 3, "capture_min_interval_s": 0.05, "move": ONE_MOVE},
    )
    yield parts
    parts.close()


def _audit(kiosk: KioskParts) -> list[tuple[str, str, float | None, str | None]]:
    with kiosk.backend.store.database.transaction() as session:
        return [(e.action, e.outcome, e.score, e.reason) for e in audit.entries(session)]


def _owner_retrieves_with(
    qtbot: Any,
    window: MainWindow,
    camera: ScriptedCamera,
    kiosk: KioskParts,
    pad: SwitchablePad,
    attack: str,
) -> tuple[str, int]:
    """Register person01, then press Retrieve with their other photo under ``attack``;
    returns the locker's label and its pulse count before the retrieve."""
    label = register(qtbot, window, camera, "person01_1")
    wait_phase(qtbot, window, Phase.DONE)
    click(qtbot, window.message.home)
    assert kiosk.emulator is not None
    pulses = kiosk.emulator.pulse_count(0, int(label))
    pad.attack = attack
    camera.show("person01_2")
    click(qtbot, window.home.retrieve_button)
    return label, pulses


def test_a_screen_at_registration_is_refused_and_nothing_is_stored(
    qtbot: Any, window: MainWindow, camera: ScriptedCamera, kiosk: KioskParts, pad: SwitchablePad
) -> None:
    pad.attack = "screen"
    camera.show("person01_1")
    qtbot.waitUntil(lambda: window.controller.status.ready, timeout=WAIT_MS)
    click(qtbot, window.home.register_button)
    click(qtbot, window.consent.accept)
    wait_phase(qtbot, window, Phase.FAILED)
    view = window.controller.flow.view
    assert view.problem is Problem.PRESENTATION_ATTACK and view.can_retry
    assert window.current_screen is window.message
    assert "직접 카메라를 봐 주세요" in window.message.body.text()
    assert active_rentals(kiosk) == [] and template_count(kiosk) == 0
    assert kiosk.emulator is not None
    assert all(kiosk.emulator.pulse_count(0, ch) == 0 for ch in range(1, 5))
    [row] = [r for r in _audit(kiosk) if r[1] == "presentation_attack"]
    assert row[0] == "register" and row[2] is not None and row[2] < 0.3
    assert row[3] is not None and row[3].startswith("screen attack")
    assert pad.calls >= 3
    # The real person, looking at the camera themselves, then gets a locker.
    pad.attack = None
    click(qtbot, window.message.retry)
    qtbot.waitUntil(
        lambda: window.controller.flow.phase in (Phase.REGISTER_OPEN, Phase.DONE),
        timeout=WAIT_MS,
    )
    assert len(active_rentals(kiosk)) == 1


def test_a_photo_of_the_owner_never_opens_the_locker(
    qtbot: Any, window: MainWindow, camera: ScriptedCamera, kiosk: KioskParts, pad: SwitchablePad
) -> None:
    # The owner's face, matching, but on paper.
    label, pulses = _owner_retrieves_with(qtbot, window, camera, kiosk, pad, "print")
    assert kiosk.emulator is not None
    wait_phase(qtbot, window, Phase.FAILED)
    assert window.controller.flow.view.problem is Problem.PRESENTATION_ATTACK
    assert kiosk.emulator.pulse_count(0, int(label)) == pulses
    assert [r[1] for r in active_rentals(kiosk)] == [label]
    assert ("retrieve", "presentation_attack") in [r[:2] for r in _audit(kiosk)]


def test_an_unsure_photo_of_the_owner_is_asked_one_move_and_cannot_do_it(
    qtbot: Any, window: MainWindow, camera: ScriptedCamera, kiosk: KioskParts, pad: SwitchablePad
) -> None:
    # The owner's face, matching, with a score the kiosk is unsure of.
    label, pulses = _owner_retrieves_with(qtbot, window, camera, kiosk, pad, "unsure")
    assert kiosk.emulator is not None
    wait_phase(qtbot, window, Phase.CHALLENGE)
    assert window.current_screen is window.camera
    assert window.camera.title.text() == "보관함을 열기 전에 화살표 방향으로 한 번만 움직여 주세요"
    # A photo cannot turn: the move times out, the service counts the failed attempt.
    wait_phase(qtbot, window, Phase.FAILED)
    view = window.controller.flow.view
    assert view.problem is Problem.LIVENESS_FAILED and view.retrieving
    assert kiosk.emulator.pulse_count(0, int(label)) == pulses  # never opened
    assert [r[1] for r in active_rentals(kiosk)] == [label]
    outcomes = [r[:2] for r in _audit(kiosk)]
    assert ("retrieve", "challenge_failed") in outcomes
    assert ("retrieve", "matched") not in outcomes
