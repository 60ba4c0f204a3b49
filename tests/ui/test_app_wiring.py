"""The composition root's demo and kiosk rules (no Qt, no hardware)."""

from __future__ import annotations

from pathlib import Path

import pytest

from lockers.app import (
    SAMPLE_VIDEO,
    camera_present,
    demo_settings,
    is_replay,
    require_trained_weights,
)
from lockers.config import Settings
from lockers.errors import WeightsError


def settings(tmp_path: Path, **data: object) -> Settings:
    return Settings.model_validate(data, context={"base_dir": tmp_path})


def test_demo_settings_use_emulator_sample_video_and_the_data_dir(tmp_path: Path) -> None:
    base = settings(
        tmp_path,
        camera={"source": "/dev/video-that-is-not-there"},
        board={"port": "/dev/ttyUSB9"},
        database={"url": "postgresql+psycopg://kiosk@db/lockers"},
    )
    demo = demo_settings(base, tmp_path / "demo")
    assert demo.board.port == "emulator"
    assert demo.camera.source == str(SAMPLE_VIDEO) and demo.camera.loop
    assert demo.database_url == f"sqlite:///{tmp_path / 'demo' / 'lockers.db'}"
    assert demo.privacy.template_key_file == tmp_path / "demo" / "template.key"
    assert [locker.label for locker in demo.lockers] == [str(i) for i in range(1, 13)]


def test_demo_keeps_a_present_camera_and_configured_lockers(tmp_path: Path) -> None:
    video = tmp_path / "clip.mp4"
    video.write_bytes(b"")
    base = settings(
        tmp_path,
        camera={"source": str(video)},
        lockers=[{"label": "A1", "board": 0, "channel": 1}],
    )
    demo = demo_settings(base)
    assert demo.camera.source == str(video)
    assert [locker.label for locker in demo.lockers] == ["A1"]
    assert demo_settings(base, sample_video=True).camera.source == str(SAMPLE_VIDEO)


@pytest.mark.parametrize(
    ("source", "replay"),
    [("0", False), ("/dev/video0", False), ("rtsp://cam/1", False), ("clip.mp4", True)],
)
def test_replay_or_live(source: str, replay: bool) -> None:
    assert is_replay(source) is replay


def test_camera_present(tmp_path: Path) -> None:
    assert camera_present("rtsp://somewhere/stream")  # cannot be checked without connecting
    assert not camera_present(str(tmp_path / "missing.mp4"))
    assert camera_present(str(SAMPLE_VIDEO))


def test_the_kiosk_refuses_untrained_or_missing_weights(tmp_path: Path) -> None:
    with pytest.raises(WeightsError, match="never runs on untrained") as err:
        require_trained_weights(settings(tmp_path, recognition={"allow_untrained": True}))
    assert "lockers demo" in err.value.hint
    with pytest.raises(WeightsError, match="no verified embedding weights") as err:
        require_trained_weights(settings(tmp_path, recognition={"weights": "models/w.pt"}))
    assert "lockers models download" in err.value.hint


def test_the_kiosk_refuses_to_start_without_verified_anti_spoof_weights(tmp_path: Path) -> None:
    from lockers.app import require_anti_spoof

    with pytest.raises(WeightsError, match="passive anti-spoofing check is on") as err:
        require_anti_spoof(settings(tmp_path))
    assert "2.7_80x80_MiniFASNetV2.pth is missing" in err.value.message
    assert "lockers models download --anti-spoof" in err.value.hint
    assert "liveness.passive: off" in err.value.hint
    # Staff may turn it off explicitly; YAML's bare `off` is a boolean.
    require_anti_spoof(settings(tmp_path, liveness={"passive": False}))
    assert settings(tmp_path, liveness={"passive": False}).liveness.passive == "off"


def test_verified_anti_spoof_weights_let_the_kiosk_start(anti_spoof_dir: Path) -> None:
    from lockers.app import anti_spoof_problems, require_anti_spoof

    ready = settings(anti_spoof_dir, liveness={"anti_spoof_dir": str(anti_spoof_dir)})
    assert anti_spoof_problems(ready) == []
    require_anti_spoof(ready)


def test_the_demo_without_anti_spoof_weights_says_so_on_screen_and_in_the_audit(
    tmp_path: Path,
) -> None:
    import sys

    sys.path.insert(0, str(Path(__file__).parent))
    from kiosk_harness import kiosk_settings

    from lockers.app import build_kiosk
    from lockers.store import audit

    parts = build_kiosk(kiosk_settings(tmp_path), demo=True, liveness=False)
    try:
        assert any("passive anti-spoofing OFF" in n for n in parts.notices)
        assert parts.flow_settings.passive_threshold is None
        with parts.backend.store.database.transaction() as session:
            rows = [(e.action, e.outcome) for e in audit.entries(session)]
        assert ("liveness", "passive_off") in rows
    finally:
        parts.close()
