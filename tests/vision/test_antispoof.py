"""The anti-spoofing models: strict loading of the real shared weights, pinned SHA-256, download,
ONNX export agreement with torch, the lean (torch-free) start and the crop geometry."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from weights_fixtures import WeightsServer

from lockers.config import AntiSpoofModelConfig, LivenessSettings, Settings
from lockers.errors import WeightsError
from lockers.vision import antispoof as pad
from lockers.vision.minifasnet import build
from lockers.vision.modelstore import antispoof as store

V2, V1SE = "2.7_80x80_MiniFASNetV2.pth", "4_0_0_80x80_MiniFASNetV1SE.pth"


def _liveness(directory: Path) -> LivenessSettings:
    return Settings(liveness={"anti_spoof_dir": str(directory)}).liveness


def _spec(file: str) -> AntiSpoofModelConfig:
    return next(m for m in _liveness(Path(".")).anti_spoof_models if m.file == file)


def _published(shared: Path, file: str) -> dict[str, torch.Tensor]:
    return torch.load(shared / file, map_location="cpu", weights_only=True)


@pytest.mark.parametrize("file", [V2, V1SE])
def test_shared_weights_load_strictly_into_our_architecture(
    shared_anti_spoof: Path, file: str
) -> None:
    spec = _spec(file)
    loaded = store.load_antispoof(shared_anti_spoof / file, spec)
    assert loaded.sha256 == spec.sha256 and loaded.scale == spec.scale
    assert not any(k.startswith("module.") for k in loaded.state_dict)
    result = build(spec.architecture).load_state_dict(loaded.state_dict, strict=True)
    assert not result.missing_keys and not result.unexpected_keys


def test_a_renamed_key_is_named_as_missing_and_unexpected(
    shared_anti_spoof: Path, tmp_path: Path
) -> None:
    state = _published(shared_anti_spoof, V2)
    state["module.conv_3.model.0.conv.conv.weights"] = state.pop(
        "module.conv_3.model.0.conv.conv.weight"
    )
    torch.save(state, tmp_path / V2)
    with pytest.raises(WeightsError) as info:
        store.load_antispoof(tmp_path / V2, _spec(V2))
    message = info.value.message
    assert "does not fit MiniFASNetV2" in message
    assert "1 missing keys: conv_3.model.0.conv.conv.weight" in message
    assert "1 unexpected keys: conv_3.model.0.conv.conv.weights" in message
    assert "lockers models download --anti-spoof" in info.value.hint


def test_a_wrong_shape_and_a_missing_key_are_clear_errors(
    shared_anti_spoof: Path, tmp_path: Path
) -> None:
    state = _published(shared_anti_spoof, V1SE)
    state["module.prob.weight"] = torch.zeros(2, 128)  # a 2-class head
    del state["module.conv_4.model.5.se_module.fc1.weight"]
    torch.save(state, tmp_path / V1SE)
    with pytest.raises(WeightsError) as info:
        store.load_antispoof(tmp_path / V1SE, _spec(V1SE))
    message = info.value.message
    assert "prob.weight [2, 128] (expected [3, 128])" in message
    assert "missing keys: conv_4.model.5.se_module.fc1.weight" in message


def test_the_file_of_the_other_architecture_is_refused(shared_anti_spoof: Path) -> None:
    spec = _spec(V1SE).model_copy(update={"file": V2})
    with pytest.raises(WeightsError, match="does not fit MiniFASNetV1SE"):
        store.load_antispoof(shared_anti_spoof / V2, spec)


def test_import_refuses_a_file_that_is_not_the_pinned_one(
    shared_anti_spoof: Path, tmp_path: Path
) -> None:
    state = _published(shared_anti_spoof, V2)
    state["module.prob.weight"] = state["module.prob.weight"] * 1.01  # same shapes, other file
    torch.save(state, tmp_path / "tampered.pth")
    dest = tmp_path / "models" / V2
    with pytest.raises(WeightsError, match=r"liveness\.anti_spoof_models pins"):
        store.import_antispoof(tmp_path / "tampered.pth", dest, _spec(V2))
    assert not dest.exists()


def test_download_checks_the_pin_and_records_the_file(
    shared_anti_spoof: Path, tmp_path: Path
) -> None:
    dest = tmp_path / "models" / V2
    with WeightsServer(files={"/v2.pth": shared_anti_spoof / V2}) as server:
        loaded = store.download_antispoof(server.url("/v2.pth"), dest, _spec(V2))
        assert loaded.path == dest
        manifest = json.loads((dest.parent / "manifest.json").read_text())
        assert manifest["files"][V2]["sha256"] == _spec(V2).sha256
        # The other model's file under this name: refused, kept aside, good file untouched.
        server.files["/wrong.pth"] = shared_anti_spoof / V1SE
        with pytest.raises(WeightsError, match="pins"):
            store.download_antispoof(server.url("/wrong.pth"), dest, _spec(V2))
    assert dest.with_name(V2 + ".rejected").is_file()
    assert store.load_antispoof(dest, _spec(V2)).sha256 == _spec(V2).sha256


def test_verified_files_reports_what_stops_a_kiosk(
    anti_spoof_dir: Path, shared_anti_spoof: Path, tmp_path: Path
) -> None:
    assert store.verified_files(_liveness(anti_spoof_dir)) == []
    (tmp_path / V2).write_bytes((shared_anti_spoof / V2).read_bytes())  # copied, not imported
    problems = store.verified_files(_liveness(tmp_path))
    assert len(problems) == 2
    assert "is not verified" in problems[0] and "is missing" in problems[1]


@pytest.mark.parametrize("file", [V2, V1SE])
def test_onnx_export_agrees_with_torch(shared_anti_spoof: Path, tmp_path: Path, file: str) -> None:
    loaded = store.load_antispoof(shared_anti_spoof / file, _spec(file))
    diff = pad.export_onnx(loaded, tmp_path / "m.onnx")
    assert diff <= pad.MAX_EXPORT_DIFF
    assert (tmp_path / "m.onnx").is_file()


def test_the_kiosk_start_loads_the_cached_export_without_torch(anti_spoof_dir: Path) -> None:
    code = (
        "import sys; from lockers.config import Settings; "
        "from lockers.vision.antispoof import load_anti_spoof; "
        f"d = load_anti_spoof(Settings(liveness={{'anti_spoof_dir': {str(anti_spoof_dir)!r}}})"
        ".liveness); import numpy as np; "
        "s = d.score(np.zeros((240, 320, 3), np.uint8), (100, 60, 200, 180)); "
        "print(d.model_version, len(s.probabilities), 'torch' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    assert out == ["minifasnetv2-a5eb02e1843f+minifasnetv1se-84ee1d37d968", "2", "False"]


def test_a_file_changed_after_it_was_recorded_stops_the_start(
    anti_spoof_dir: Path, tmp_path: Path
) -> None:
    import shutil

    copy = tmp_path / "as"
    shutil.copytree(anti_spoof_dir, copy)
    with open(copy / V1SE, "ab") as fh:
        fh.write(b"\0")
    with pytest.raises(WeightsError, match="changed since it was verified"):
        pad.load_anti_spoof(_liveness(copy))


def test_crop_grows_the_box_and_stays_inside_the_frame() -> None:
    image = np.zeros((200, 300, 3), np.uint8)
    image[:, :, 0] = 255  # red in RGB
    crop = pad.crop_face(image, (10.0, 10.0, 60.0, 70.0), 2.7)
    assert crop.shape == (80, 80, 3)
    assert crop[..., 2].min() == 255 and crop[..., 0].max() == 0  # BGR order for the models
    # A box at the corner: the crop is shifted inside, not padded with black.
    image[:] = 128
    assert pad.crop_face(image, (250.0, 150.0, 299.0, 199.0), 4.0).min() == 128


# --------------------------------------------------------------------------- CLI


def _cli(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str
) -> tuple[int, str, str]:
    from lockers.cli import main

    monkeypatch.setenv("COLUMNS", "250")
    monkeypatch.setattr(sys, "argv", ["lockers", *args])
    with pytest.raises(SystemExit) as info:
        main()
    out, err = capsys.readouterr()
    code = info.value.code
    return (code if isinstance(code, int) else 1), out, err


def test_cli_import_verify_and_download_from_a_site_mirror(
    shared_anti_spoof: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Imported under another name: the pinned SHA-256 says which model it is.
    renamed = tmp_path / "copied-from-usb.pth"
    renamed.write_bytes((shared_anti_spoof / V1SE).read_bytes())
    code, out, err = _cli(monkeypatch, capsys, "models", "import", "--anti-spoof", str(renamed))
    assert code == 0, err
    assert "OK: fits MiniFASNetV1SE" in out and (tmp_path / "models/anti-spoof" / V1SE).is_file()
    code, _, err = _cli(monkeypatch, capsys, "models", "verify", "--anti-spoof")
    assert code == 2 and "2.7_80x80_MiniFASNetV2.pth" in err and "Traceback" not in err
    with WeightsServer(files={f"/mirror/{V2}": shared_anti_spoof / V2}) as server:
        prefix = server.url("/mirror")
        code, out, err = _cli(
            monkeypatch, capsys, "models", "download", "--anti-spoof", "--url-prefix", prefix
        )
    assert code == 0, err
    assert f"{V1SE}: already present and verified" in out and "OK: fits MiniFASNetV2" in out
    code, out, err = _cli(monkeypatch, capsys, "models", "verify", "--anti-spoof")
    assert code == 0, err
    assert out.count("agrees with torch") == 2 and "not recorded" not in out


def test_cli_import_refuses_an_unknown_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "x.pth").write_bytes(b"not a model")
    code, _, err = _cli(monkeypatch, capsys, "models", "import", "--anti-spoof", "x.pth")
    assert code == 2 and "none of the configured anti-spoofing models" in err


def test_bench_reports_the_pad_cost_per_frame(
    anti_spoof_dir: Path, portraits: dict[str, np.ndarray], tmp_path: Path
) -> None:
    from lockers.vision.pad_bench import bench_pad

    frames = list(portraits.values())
    got = bench_pad(_liveness_settings(anti_spoof_dir, tmp_path), frames, repeats=1)
    assert got["frames"] == len(frames) and got["pad_ms_p50"] > 0
    assert got["weights_note"] == "verified anti-spoofing weights"
    # Without verified weights: random ones, labelled (the timings do not depend on values).
    got = bench_pad(_liveness_settings(tmp_path / "none", tmp_path), frames[:1], repeats=1)
    assert got["models"] == "random" and "RANDOM" in got["weights_note"]


def _liveness_settings(directory: Path, tmp_path: Path) -> Settings:
    return Settings(
        liveness={"anti_spoof_dir": str(directory)},
        recognition={"weights": str(tmp_path / "models" / "w.pt")},
    )


@pytest.mark.parametrize(
    ("box", "scale", "expected"),
    [
        # (x1, y1, x2, y2), scale -> the frame region (left, top, right, bottom) the models see
        ((100.0, 80.0, 140.0, 130.0), 2.7, (66, 37, 174, 172)),  # grown about the box centre
        ((200.0, 150.0, 240.0, 190.0), 4.0, (95, 39, 255, 199)),  # shifted inside, same size
        ((0.0, 0.0, 100.0, 150.0), 4.0, (0, 0, 133, 199)),  # scale shrunk to fit the frame
    ],
)
def test_crop_follows_the_published_preprocessing(
    box: tuple[float, float, float, float], scale: float, expected: tuple[int, int, int, int]
) -> None:
    """The published models were trained on the face box grown ``scale`` times about its
    centre (width and height each: not squared), moved back inside the frame rather than
    padded, the scale lowered when the frame is too small, resized to 80x80, BGR, 0..255."""
    h, w = 200, 256
    image = np.zeros((h, w, 3), np.uint8)
    image[..., 0] = np.arange(w, dtype=np.uint8)[None, :]  # red = x
    image[..., 1] = np.arange(h, dtype=np.uint8)[:, None]  # green = y
    crop = pad.crop_face(image, box, scale).astype(int)
    left, top, right, bottom = expected
    assert abs(crop[40, 0, 2] - left) <= 2 and abs(crop[40, -1, 2] - right) <= 2
    assert abs(crop[0, 40, 1] - top) <= 2 and abs(crop[-1, 40, 1] - bottom) <= 2
    assert crop[..., 0].max() == 0  # blue (RGB channel 2) is empty: BGR order
    batch = pad.to_input(crop.astype(np.uint8)[None])
    assert batch.shape == (1, 3, 80, 80) and batch.max() > 100  # raw pixel values, not 0..1
