"""Config: the shipped file is valid, env overrides work, bad files explain themselves."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from lockers.config import Settings, load_settings
from lockers.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_shipped_config_is_valid_and_equals_the_defaults_it_documents() -> None:
    settings = load_settings(REPO / "config.yaml", env={})
    defaults = Settings.model_validate({}, context={"base_dir": REPO})
    assert settings.recognition == defaults.recognition
    assert settings.detection == defaults.detection
    assert settings.quality == defaults.quality
    assert settings.camera == defaults.camera
    assert settings.liveness == defaults.liveness
    assert len(settings.lockers) == 8


def test_liveness_section_reads_yaml_on_off_and_refuses_bad_values(tmp_path: Path) -> None:
    settings = load_settings(_write(tmp_path, "liveness:\n  passive: off\n"), env={})
    assert settings.liveness.passive == "off"
    env = {"LOCKERS_LIVENESS__PASSIVE": "off", "LOCKERS_LIVENESS__THRESHOLD": "0.8"}
    settings = load_settings(_write(tmp_path, "ui:\n  language: en\n"), env=env)
    assert settings.liveness.passive == "off" and settings.liveness.threshold == 0.8
    with pytest.raises(ConfigError, match="hold_max_s must be at least hold_min_s"):
        load_settings(_write(tmp_path, "liveness:\n  hold_min_s: 2\n  hold_max_s: 1\n"), env={})
    with pytest.raises(ConfigError, match="sha256"):
        load_settings(
            _write(
                tmp_path,
                "liveness:\n  anti_spoof_models:\n    - {file: a.pth, architecture: "
                "MiniFASNetV2, scale: 2.7, url: 'http://x/a.pth', sha256: nothex}\n",
            ),
            env={},
        )


def test_relative_paths_resolve_against_the_config_file(tmp_path: Path) -> None:
    sub = tmp_path / "site"
    sub.mkdir()
    settings = load_settings(_write(sub, "data_dir: var\n"), env={})
    assert settings.data_dir == (sub / "var").resolve()
    assert settings.database_url == f"sqlite:///{sub.resolve() / 'var' / 'lockers.db'}"


def test_environment_overrides_single_values(tmp_path: Path) -> None:
    path = _write(tmp_path, "recognition:\n  threshold: 0.5\n")
    env = {
        "LOCKERS_RECOGNITION__THRESHOLD": "0.61",
        "LOCKERS_DATABASE__URL": "postgresql+psycopg://kiosk@db/lockers",
        "LOCKERS_CAMERA__SOURCE": "0",
        "LOCKERS_UI__FULLSCREEN": "false",
        "LOCKERS_CONFIG": str(path),  # selects the file; not a key
        "UNRELATED": "x",
    }
    settings = load_settings(path, env=env)
    assert settings.recognition.threshold == pytest.approx(0.61)
    assert settings.database.url == "postgresql+psycopg://kiosk@db/lockers"
    assert settings.camera.source == "0"
    assert settings.ui.fullscreen is False


def test_config_file_from_environment_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _write(tmp_path, "ui: {language: en}\n")
    monkeypatch.setenv("LOCKERS_CONFIG", str(path))
    assert load_settings().ui.language == "en"
    monkeypatch.setenv("LOCKERS_CONFIG", str(tmp_path / "nope.yaml"))
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings()


def test_every_problem_is_reported_with_key_value_and_what_is_allowed(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "recognition:\n  threshold: 1.7\n  backend: tensorflow\n  thershold: 0.5\n"
        "camera:\n  width: -3\n",
    )
    with pytest.raises(ConfigError) as info:
        load_settings(path, env={"LOCKERS_UI__LANGUAGE": "fr"})
    problems = info.value.problems
    text = "\n".join(problems)
    assert len(problems) == 5, text
    assert "recognition.threshold = 1.7" in text and "less than or equal to 1" in text
    assert "recognition.backend = 'tensorflow'" in text and "'onnx' or 'torch'" in text
    assert "recognition.thershold" in text and "unknown key" in text and "threshold" in text
    assert "camera.width = -3" in text
    assert "ui.language = 'fr' (from LOCKERS_UI__LANGUAGE)" in text
    assert str(path) in info.value.message


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("camera: [1, 2\n", "not valid YAML at line"),
        ("- just\n- a list\n", "must hold a mapping"),
        ("recognition:\n  frames_to_agree: 6\n  frames_window: 5\n", "cannot exceed"),
        ("lockers:\n  - {label: '1', channel: 1}\n  - {label: '1', channel: 2}\n", "used twice"),
        ("lockers:\n  - {label: '1', channel: 1}\n  - {label: '2', channel: 1}\n", "already wired"),
    ],
)
def test_bad_files_give_one_clear_message(tmp_path: Path, text: str, words: str) -> None:
    with pytest.raises(ConfigError, match=words):
        load_settings(_write(tmp_path, text), env={})


def test_cli_prints_config_errors_without_traceback(tmp_path: Path) -> None:
    path = _write(tmp_path, "recognition:\n  threshold: 9\n")
    result = subprocess.run(
        [sys.executable, "-m", "lockers", "--config", str(path), "config", "show"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "recognition.threshold = 9" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


@pytest.mark.parametrize(
    ("source", "kind"),
    [
        ("0", "device_index"),
        (" 12 ", "device_index"),
        ("/dev/video0", "device_path"),
        ("rtsp://user:pw@cam/1", "stream"),
        ("ftp://cam/1", "stream"),  # a stream by form; open_source refuses the scheme
        ("clip.mp4", "replay"),
        ("faces/", "replay"),
        ("0.mp4", "replay"),
    ],
)
def test_one_rule_says_what_camera_source_names(source: str, kind: str) -> None:
    """app (demo camera, notices), the doctor and open_source all ask classify_source."""
    from lockers.config.vision import SourceKind, classify_source

    assert classify_source(source) is SourceKind(kind)
    assert classify_source(source).is_live is (kind != "replay")


def test_no_copy_of_the_source_rule_is_left() -> None:
    """The hand-written checks that drifted ("://" in source, isdigit) are gone from the
    modules that used to carry them."""
    root = Path(__file__).resolve().parents[2] / "lockers"
    for module in ("app", "doctor/devices.py", "vision/camera"):
        paths = (
            sorted((root / module).rglob("*.py")) if (root / module).is_dir() else [root / module]
        )
        for path in paths:
            text = path.read_text()
            assert '"://" in source' not in text and "source.isdigit()" not in text, path
