"""The composition root's demo and kiosk rules (no Qt, no hardware)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from lockers.app import (
    SAMPLE_VIDEO,
    build_kiosk,
    camera_present,
    demo_settings,
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


def _harness_settings(tmp_path: Path) -> Settings:
    import sys

    sys.path.insert(0, str(Path(__file__).parent))
    from kiosk_harness import kiosk_settings

    return kiosk_settings(tmp_path)


def test_a_failure_after_the_board_opened_closes_the_store_and_the_board(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """build_kiosk owns what it opened until it hands it over: a late failure leaks nothing."""
    from lockers.hardware.boards.base import SerialBoard
    from lockers.kiosk import startup
    from lockers.kiosk.startup import Store

    opened: list[str] = []
    closed: list[str] = []
    real_start_store = startup.start_store
    real_board_close, real_store_close = SerialBoard.close, Store.close

    def start_store(*args: object, **kwargs: object) -> object:
        result = real_start_store(*args, **kwargs)
        opened.append("store")
        return result

    def board_close(self: SerialBoard) -> None:
        closed.append("board")
        real_board_close(self)

    def store_close(self: Store) -> None:
        closed.append("store")
        real_store_close(self)

    monkeypatch.setattr("lockers.kiosk.startup.start_store", start_store)
    monkeypatch.setattr(SerialBoard, "close", board_close)
    monkeypatch.setattr(Store, "close", store_close)
    # The failure comes after the store, the board and the services were built: the flow
    # settings are the last step, and an unknown field makes them raise.
    with pytest.raises(TypeError, match="no_such_field"):
        build_kiosk(
            _harness_settings(tmp_path),
            demo=True,
            liveness=False,
            flow_overrides={"no_such_field": 1},
        )
    assert opened == ["store"]
    assert closed == ["board", "store"]  # both, the board first (reverse order of opening)


def test_a_built_kiosk_closes_its_parts_once_at_shutdown(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lockers.hardware.boards.base import SerialBoard

    closed: list[str] = []
    real_board_close = SerialBoard.close

    def board_close(self: SerialBoard) -> None:
        closed.append("board")
        real_board_close(self)

    monkeypatch.setattr(SerialBoard, "close", board_close)
    parts = build_kiosk(_harness_settings(tmp_path), demo=True, liveness=False)
    assert closed == []  # handed over, not closed on the way out of build_kiosk
    parts.close()
    parts.close()
    assert closed == ["board"]


@pytest.fixture
def loose_umask() -> Iterator[None]:
    """The common default umask 022, which would make new files 0644 and directories 0755."""
    import os

    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def _mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


def test_the_demo_data_directory_and_database_are_private_under_umask_022(
    tmp_path: Path, loose_umask: None
) -> None:
    settings = _harness_settings(tmp_path)
    parts = build_kiosk(settings, demo=True, liveness=False)
    try:
        database = settings.data_dir / "lockers.db"
        # The services have written (the demo staff account): SQLite's WAL and SHM exist now.
        wal, shm = Path(f"{database}-wal"), Path(f"{database}-shm")
        assert wal.exists() and shm.exists()
        assert _mode(settings.data_dir) == 0o700
        assert {p.name: _mode(p) for p in (database, wal, shm)} == {
            "lockers.db": 0o600,
            "lockers.db-wal": 0o600,
            "lockers.db-shm": 0o600,
        }
        assert _mode(settings.privacy.template_key_file) == 0o600
    finally:
        parts.close()


def test_an_older_readable_data_directory_and_database_are_tightened(
    tmp_path: Path, loose_umask: None, caplog: pytest.LogCaptureFixture
) -> None:
    settings = _harness_settings(tmp_path)
    parts = build_kiosk(settings, demo=True, liveness=False)
    parts.close()
    database = settings.data_dir / "lockers.db"
    settings.data_dir.chmod(0o755)  # as an older version left them
    database.chmod(0o644)
    parts = build_kiosk(settings, demo=True, liveness=False)
    try:
        assert _mode(settings.data_dir) == 0o700
        assert _mode(database) == 0o600
        assert all(_mode(p) == 0o600 for p in settings.data_dir.glob("lockers.db*"))
    finally:
        parts.close()
    assert any("readable by other accounts" in r.getMessage() for r in caplog.records)


def test_a_shared_directory_is_not_made_private(tmp_path: Path, loose_umask: None) -> None:
    """A data_dir pointing at a shared folder (sticky, like /tmp) is left as it is."""
    from lockers.store.db import private_directory

    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)
    private_directory(shared)
    assert shared.stat().st_mode & 0o7777 == 0o1777
    fresh = private_directory(tmp_path / "a" / "b")
    assert _mode(fresh) == 0o700
