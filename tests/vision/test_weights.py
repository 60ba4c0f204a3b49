"""Weights management: verify, load, download (over a real local HTTP server), import, CLI."""

from __future__ import annotations

import json
import logging
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from weights_fixtures import (
    WeightsServer,
    make_state_dict,
    make_state_dict_file,
    session_weights_file,
)

from lockers.config import RecognitionConfig
from lockers.errors import WeightsError
from lockers.vision import weights as w

MB = 1_000_000


@pytest.fixture(scope="session")
def valid_weights_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return session_weights_file(tmp_path_factory)


@pytest.fixture
def weights_server() -> Iterator[WeightsServer]:
    """A local HTTP server with no files yet; its thread is stopped after the test."""
    with WeightsServer() as server:
        yield server


@pytest.fixture(scope="module")
def valid_sha(valid_weights_file: Path) -> str:
    return w.sha256_of(valid_weights_file)


@pytest.fixture(scope="module")
def reference_state_dict() -> dict[str, Any]:
    """The in-memory state_dict (seed 1) that verify_state_dict cases mutate copies of."""
    return make_state_dict(seed=1)


@pytest.fixture
def served(weights_server: WeightsServer, valid_weights_file: Path) -> WeightsServer:
    weights_server.files["/irv1.pt"] = valid_weights_file
    return weights_server


# --------------------------------------------------------------------------- verify_state_dict


def test_architecture_is_the_real_network_without_logits() -> None:
    arch = w.expected_architecture()
    assert len(arch) == 714
    assert arch["last_linear.weight"] == ((512, 1792), True)
    assert not any(key.startswith("logits.") for key in arch)


def test_verify_drops_logits_and_keeps_everything_else(
    reference_state_dict: dict[str, Any],
) -> None:
    kept = w.verify_state_dict(reference_state_dict)
    assert set(kept) == set(w.expected_architecture())
    assert kept["last_linear.weight"] is reference_state_dict["last_linear.weight"]


def test_verify_fills_a_missing_batchnorm_counter(reference_state_dict: dict[str, Any]) -> None:
    sd = {k: v for k, v in reference_state_dict.items() if not k.endswith("num_batches_tracked")}
    kept = w.verify_state_dict(sd)
    assert kept["conv2d_1a.bn.num_batches_tracked"].item() == 0


def _missing(sd: dict[str, Any]) -> None:
    for key in [k for k in sd if k.startswith("block8.")]:
        del sd[key]


def _unexpected(sd: dict[str, Any]) -> None:
    sd["head.weight"] = torch.zeros(3)


def _reshaped(sd: dict[str, Any]) -> None:
    sd["last_linear.weight"] = torch.zeros(128, 1792)


def _nan(sd: dict[str, Any]) -> None:
    sd["last_bn.weight"] = sd["last_bn.weight"].clone()
    sd["last_bn.weight"][3] = float("nan")


def _integer(sd: dict[str, Any]) -> None:
    sd["last_bn.bias"] = torch.zeros(512, dtype=torch.int32)


def _not_tensor(sd: dict[str, Any]) -> None:
    sd["last_bn.bias"] = [0.0] * 512


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (_missing, r"22 missing keys: block8\.branch0\.conv\.weight, .* and 17 more"),
        (_unexpected, r"1 unexpected keys: head\.weight"),
        (_reshaped, r"last_linear\.weight \[128, 1792\] \(expected \[512, 1792\]\)"),
        (_nan, r"NaN or infinite values: last_bn\.weight"),
        (_integer, r"wrong dtype: last_bn\.bias torch\.int32"),
        (_not_tensor, r"not a state_dict: last_bn\.bias are not tensors"),
    ],
    ids=["missing", "unexpected", "shape", "nan", "dtype", "not-tensor"],
)
def test_verify_names_what_does_not_fit(
    reference_state_dict: dict[str, Any], mutate: Any, expected: str
) -> None:
    sd = dict(reference_state_dict)
    mutate(sd)
    with pytest.raises(WeightsError, match=expected) as info:
        w.verify_state_dict(sd, origin="test.pt")
    assert "lockers models download" in info.value.hint
    assert "lockers models import FILE" in info.value.hint
    assert len(info.value.message) < 1000  # long key lists are cut short


# --------------------------------------------------------------------------- load_weights


def test_load_valid_file_without_manifest(valid_weights_file: Path, valid_sha: str) -> None:
    loaded = w.load_weights(valid_weights_file)
    assert loaded.sha256 == valid_sha
    assert loaded.model_version == f"irv1-{valid_sha[:12]}"
    assert loaded.path == valid_weights_file
    assert "logits.weight" not in loaded.state_dict
    # It loads strictly into the real network.
    from facenet_pytorch import InceptionResnetV1

    InceptionResnetV1(pretrained=None, classify=False).load_state_dict(loaded.state_dict)


def test_load_missing_file_names_the_download_command(tmp_path: Path) -> None:
    path = tmp_path / "models" / "w.pt"
    with pytest.raises(WeightsError, match="not found") as info:
        w.load_weights(path)
    assert f"lockers models download --dest {path}" in info.value.hint
    assert "lockers models import FILE" in info.value.hint


def _truncated(valid: Path, path: Path) -> None:
    path.write_bytes(valid.read_bytes()[: 40 * MB])


def _html(valid: Path, path: Path) -> None:
    path.write_bytes(b"<!DOCTYPE html><html><body>Proxy login</body></html>")


def _random(valid: Path, path: Path) -> None:
    path.write_bytes(bytes(range(256)) * 64)


def _four_bytes(valid: Path, path: Path) -> None:
    path.write_bytes(b"junk")


def _empty(valid: Path, path: Path) -> None:
    path.write_bytes(b"")


def _pickled_object(valid: Path, path: Path) -> None:
    torch.save({"weights": torch.zeros(2), "when": Path("x")}, path)


def _not_a_dict(valid: Path, path: Path) -> None:
    torch.save([torch.zeros(2)], path)


def _ambiguous(valid: Path, path: Path) -> None:
    sd = {"a": torch.zeros(2)}
    torch.save({"state_dict": sd, "model": sd, "epoch": 3}, path)


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (_truncated, "is truncated or damaged"),
        (_html, "looks like a web page"),
        (_random, "is not a PyTorch weights file"),
        (_four_bytes, "is not a PyTorch weights file"),
        (_empty, "is empty"),
        (_pickled_object, "holds Python objects besides tensors"),
        (_not_a_dict, "holds a list, not a state_dict"),
        (_ambiguous, "both 'state_dict' and 'model'"),
    ],
    ids=[
        "truncated",
        "html",
        "random-bytes",
        "four-bytes",
        "empty",
        "pickled-object",
        "list",
        "ambiguous",
    ],
)
def test_load_unusable_file(
    valid_weights_file: Path, tmp_path: Path, make: Any, expected: str
) -> None:
    path = tmp_path / "bad.pt"
    make(valid_weights_file, path)
    with pytest.raises(WeightsError, match=expected) as info:
        w.load_weights(path)
    assert "lockers models" in info.value.hint


def test_every_damaged_copy_of_a_file_gives_a_weights_error(tmp_path: Path) -> None:
    """Truncated or bit-flipped anywhere: a WeightsError, never another exception."""
    good = tmp_path / "small.pt"
    torch.save({"conv.weight": torch.ones(4, 3), "bn.num_batches_tracked": torch.tensor(7)}, good)
    data = good.read_bytes()
    bad = tmp_path / "bad.pt"
    for cut in range(0, len(data), max(1, len(data) // 60)):
        bad.write_bytes(data[:cut])
        with pytest.raises(WeightsError):
            w.load_weights(bad)
        flipped = bytearray(data)
        flipped[cut] ^= 0xFF
        bad.write_bytes(bytes(flipped))
        with pytest.raises(WeightsError):
            w.load_weights(bad)


def test_load_mismatched_architecture_file(
    reference_state_dict: dict[str, Any], tmp_path: Path
) -> None:
    path = tmp_path / "classifier.pt"
    small = {k: v for k, v in reference_state_dict.items() if k.startswith(("conv2d_1a", "logits"))}
    torch.save(small, path)
    with pytest.raises(
        WeightsError, match=r"does not fit InceptionResnetV1 .* missing keys"
    ) as info:
        w.load_weights(path)
    assert "lockers models download" in info.value.hint


def test_load_unwraps_an_unambiguous_checkpoint(
    reference_state_dict: dict[str, Any], tmp_path: Path
) -> None:
    path = tmp_path / "ckpt.pt"
    wrapped = {f"module.{k}": v for k, v in reference_state_dict.items()}
    torch.save({"state_dict": wrapped, "epoch": 12, "best_acc": 0.99}, path)
    loaded = w.load_weights(path)
    assert set(loaded.state_dict) == set(w.expected_architecture())


def test_load_refuses_a_file_changed_since_it_was_recorded(
    valid_weights_file: Path, tmp_path: Path
) -> None:
    dest = tmp_path / "models" / "w.pt"
    w.import_weights(valid_weights_file, dest, version="site-v1")
    make_state_dict_file(dest, seed=5)  # valid weights, but not the ones recorded
    with pytest.raises(WeightsError, match="changed since it was verified") as info:
        w.load_weights(dest)
    assert "lockers models download" in info.value.hint
    assert f"lockers models import {dest}" in info.value.hint
    # Accepting the replacement on purpose: import in place re-records it.
    again = w.import_weights(dest, dest, version="site-v2")
    assert w.load_weights(dest).model_version == again.model_version == "site-v2"


def test_damaged_manifest_is_reported(valid_weights_file: Path, tmp_path: Path) -> None:
    dest = tmp_path / "w.pt"
    w.import_weights(valid_weights_file, dest)
    (tmp_path / "manifest.json").write_text("{not json")
    with pytest.raises(WeightsError, match=r"manifest .* is damaged"):
        w.load_weights(dest)


# --------------------------------------------------------------------------- resolve_weights


def test_resolve_returns_verified_weights(valid_weights_file: Path) -> None:
    loaded = w.resolve_weights(RecognitionConfig(weights=valid_weights_file))
    assert loaded is not None and loaded.path == valid_weights_file


def test_resolve_refuses_missing_weights_by_default(tmp_path: Path) -> None:
    with pytest.raises(WeightsError, match="not found"):
        w.resolve_weights(RecognitionConfig(weights=tmp_path / "none.pt"))


def test_resolve_allows_untrained_only_with_a_loud_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = RecognitionConfig(weights=tmp_path / "none.pt", allow_untrained=True)
    with caplog.at_level(logging.WARNING, logger="lockers.vision.weights"):
        assert w.resolve_weights(config) is None
    [record] = caplog.records
    assert record.levelno == logging.WARNING
    assert "UNTRAINED" in record.getMessage() and "not found" in record.getMessage()


# --------------------------------------------------------------------------- download


def test_download_verifies_renames_and_records(
    served: WeightsServer, valid_sha: str, tmp_path: Path
) -> None:
    dest = tmp_path / "models" / "w.pt"
    seen: list[tuple[int, int | None]] = []
    url = served.url("/irv1.pt")
    loaded = w.download_weights(
        url, dest, expected_sha256=valid_sha.upper(), progress=lambda d, t: seen.append((d, t))
    )
    size = dest.stat().st_size
    assert loaded.sha256 == valid_sha and loaded.path == dest
    assert "logits.weight" not in loaded.state_dict
    assert seen[0] == (0, size) and seen[-1] == (size, size)
    assert sorted(p.name for p in dest.parent.iterdir()) == ["manifest.json", "w.pt"]
    manifest = json.loads((dest.parent / "manifest.json").read_text())
    entry = manifest["files"]["w.pt"]
    assert entry["sha256"] == valid_sha and entry["size"] == size and entry["source"] == url
    assert entry["model_version"] == loaded.model_version == f"irv1-{valid_sha[:12]}"
    assert entry["verified_at"].endswith("+00:00")
    assert w.load_weights(dest).model_version == loaded.model_version


def test_download_resumes_after_a_dropped_connection(
    served: WeightsServer, valid_sha: str, tmp_path: Path
) -> None:
    dest = tmp_path / "w.pt"
    served.drop_after_bytes = 30 * MB
    url = served.url("/irv1.pt")
    with pytest.raises(WeightsError, match=r"interrupted after \d+\.\d MB of 1\d\d\.\d MB") as info:
        w.download_weights(url, dest)
    assert url in info.value.message and "is kept" in info.value.message
    assert "rerun `lockers models download`" in info.value.hint
    part = tmp_path / "w.pt.part"
    kept = part.stat().st_size  # what arrived, less the chunk being read when the link dropped
    assert 20 * MB < kept <= 30 * MB and not dest.exists()

    loaded = w.download_weights(url, dest, expected_sha256=valid_sha)
    assert loaded.sha256 == valid_sha == w.sha256_of(dest)
    assert [(r.range_header, r.status) for r in served.requests] == [
        (None, 200),
        (f"bytes={kept}-", 206),
    ]
    assert not part.exists()


def test_download_restarts_when_the_server_ignores_range(
    served: WeightsServer, valid_sha: str, tmp_path: Path
) -> None:
    dest = tmp_path / "w.pt"
    (tmp_path / "w.pt.part").write_bytes(b"stale bytes from another file" * 1000)
    served.ignore_range = True
    loaded = w.download_weights(served.url("/irv1.pt"), dest, expected_sha256=valid_sha)
    assert loaded.sha256 == valid_sha
    assert [r.status for r in served.requests] == [200]
    assert served.requests[0].range_header == "bytes=29000-"


def test_download_starts_over_when_the_part_is_longer_than_the_file(
    served: WeightsServer, valid_weights_file: Path, valid_sha: str, tmp_path: Path
) -> None:
    dest = tmp_path / "w.pt"
    size = valid_weights_file.stat().st_size
    (tmp_path / "w.pt.part").write_bytes(b"\0" * (size + 10))
    assert w.download_weights(served.url("/irv1.pt"), dest).sha256 == valid_sha
    assert [r.status for r in served.requests] == [416, 200]


def test_download_404_names_url_and_mirror_settings(
    weights_server: WeightsServer, tmp_path: Path
) -> None:
    url = weights_server.url("/nothing.pt")
    with pytest.raises(WeightsError, match="HTTP 404") as info:
        w.download_weights(url, tmp_path / "w.pt")
    assert url in info.value.message
    assert "--url" in info.value.hint and "recognition.weights_url" in info.value.hint
    assert list(tmp_path.iterdir()) == []


def test_download_unreachable_server(tmp_path: Path) -> None:
    with socket.socket() as sock:  # a port that was free a moment ago: nobody listens there
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/w.pt"
    with pytest.raises(WeightsError, match=rf"cannot reach {url}: \[Errno \d+\]") as info:
        w.download_weights(url, tmp_path / "w.pt", timeout_s=2)
    assert "lockers models import FILE" in info.value.hint


def test_download_from_a_server_that_never_answers(tmp_path: Path) -> None:
    with socket.socket() as sock:  # listens (the kernel accepts) but never sends a byte
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        url = f"http://127.0.0.1:{sock.getsockname()[1]}/w.pt"
        with pytest.raises(WeightsError, match=rf"no answer from {url} within 0.3 s"):
            w.download_weights(url, tmp_path / "w.pt", timeout_s=0.3)


def test_download_of_a_corrupt_file_never_becomes_the_weights(
    weights_server: WeightsServer, valid_weights_file: Path, tmp_path: Path
) -> None:
    dest = tmp_path / "w.pt"
    w.import_weights(valid_weights_file, dest, version="good")
    before = w.sha256_of(dest)
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"<html><body>Please log in to the proxy</body></html>")
    weights_server.files["/w.pt"] = junk
    url = weights_server.url("/w.pt")
    with pytest.raises(WeightsError, match="looks like a web page") as info:
        w.download_weights(url, dest)
    assert url in info.value.message and "w.pt.rejected" in info.value.message
    assert "--url" in info.value.hint
    assert w.sha256_of(dest) == before  # the good file is untouched
    assert w.load_weights(dest).model_version == "good"
    assert (tmp_path / "w.pt.rejected").read_bytes() == junk.read_bytes()
    assert not (tmp_path / "w.pt.part").exists()


def test_download_of_a_mismatched_architecture_is_rejected(
    weights_server: WeightsServer, reference_state_dict: dict[str, Any], tmp_path: Path
) -> None:
    other = tmp_path / "served" / "other.pt"
    other.parent.mkdir()
    torch.save({k: v for k, v in reference_state_dict.items() if "block8" not in k}, other)
    weights_server.files["/w.pt"] = other
    dest = tmp_path / "w.pt"
    with pytest.raises(WeightsError, match="does not fit InceptionResnetV1"):
        w.download_weights(weights_server.url("/w.pt"), dest)
    assert not dest.exists() and not (tmp_path / "manifest.json").exists()


def test_download_with_wrong_expected_sha_is_rejected(
    served: WeightsServer, tmp_path: Path
) -> None:
    dest = tmp_path / "w.pt"
    with pytest.raises(WeightsError, match=r"expected 0{64}") as info:
        w.download_weights(served.url("/irv1.pt"), dest, expected_sha256="0" * 64)
    assert "--sha256" in info.value.hint
    assert not dest.exists() and (tmp_path / "w.pt.rejected").exists()


@pytest.mark.parametrize("bad", ["abc", "g" * 64])
def test_download_rejects_a_malformed_sha_before_connecting(bad: str, tmp_path: Path) -> None:
    with pytest.raises(WeightsError, match="is not a SHA-256 digest"):
        w.download_weights("http://127.0.0.1:9/w.pt", tmp_path / "w.pt", expected_sha256=bad)


# --------------------------------------------------------------------------- import


def test_import_copies_and_records_the_version(
    valid_weights_file: Path, valid_sha: str, tmp_path: Path
) -> None:
    dest = tmp_path / "models" / "w.pt"
    loaded = w.import_weights(valid_weights_file, dest, version="site-finetune-2026-11")
    assert loaded.sha256 == valid_sha == w.sha256_of(dest)
    entry = w.read_manifest(dest.parent)["w.pt"]
    assert entry.source == str(valid_weights_file.resolve())
    assert entry.model_version == "site-finetune-2026-11"
    assert sorted(p.name for p in dest.parent.iterdir()) == ["manifest.json", "w.pt"]


def test_import_of_an_invalid_file_writes_nothing(tmp_path: Path) -> None:
    src = tmp_path / "junk.pt"
    src.write_bytes(b"not weights at all")
    dest = tmp_path / "models" / "w.pt"
    with pytest.raises(WeightsError, match="not a PyTorch weights file"):
        w.import_weights(src, dest)
    assert not dest.parent.exists()


@pytest.mark.parametrize("version", ["", "has space", "-leading-dash", "x" * 65])
def test_import_rejects_a_bad_version_name(
    valid_weights_file: Path, tmp_path: Path, version: str
) -> None:
    with pytest.raises(WeightsError, match="not a valid model version"):
        w.import_weights(valid_weights_file, tmp_path / "w.pt", version=version)


# --------------------------------------------------------------------------- CLI


def _cli(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str
) -> tuple[int, str, str]:
    """Run ``lockers ARGS`` through the real entry point (error printing included)."""
    from lockers.cli import main

    monkeypatch.setattr(sys, "argv", ["lockers", *args])
    with pytest.raises(SystemExit) as info:
        main()
    out, err = capsys.readouterr()
    code = info.value.code
    return (code if isinstance(code, int) else 1), out, err


def test_cli_download_verify_list(
    served: WeightsServer,
    valid_sha: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # A config file that points at the local server, as a site mirror would.
    weights = tmp_path / "models" / "w.pt"
    (tmp_path / "config.yaml").write_text(
        f"recognition:\n  weights: models/w.pt\n  weights_url: {served.url('/irv1.pt')}\n"
    )
    code, out, err = _cli(monkeypatch, capsys, "models", "download", "--sha256", valid_sha)
    assert code == 0, err
    assert valid_sha in out and "OK" in out and weights.is_file()

    code, out, _ = _cli(monkeypatch, capsys, "models", "download")
    assert code == 0 and "already present" in out
    assert len(served.requests) == 1  # nothing fetched the second time

    code, out, _ = _cli(monkeypatch, capsys, "models", "verify")
    assert code == 0
    assert str(weights) in out and valid_sha in out and f"irv1-{valid_sha[:12]}" in out
    assert "OK" in out

    monkeypatch.setenv("COLUMNS", "250")  # the table's columns would fold in 80
    code, out, _ = _cli(monkeypatch, capsys, "models", "list")
    assert code == 0 and "w.pt" in out and f"irv1-{valid_sha[:12]}" in out


def test_cli_import_and_verify_a_changed_file(
    valid_weights_file: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    dest = tmp_path / "models" / "20180402-114759-vggface2.pt"  # the default config path
    code, out, err = _cli(
        monkeypatch, capsys, "models", "import", str(valid_weights_file), "--version", "site-v1"
    )
    assert code == 0, err
    assert "site-v1" in out and dest.is_file()

    dest.write_bytes(dest.read_bytes()[: 10 * MB])
    code, out, err = _cli(monkeypatch, capsys, "models", "verify")
    assert code == 2
    assert "error:" in err and "changed since it was verified" in err
    assert "hint:" in err and "lockers models download" in err
    assert "Traceback" not in out + err


def test_cli_download_error_exits_2(
    weights_server: WeightsServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    url = weights_server.url("/missing.pt")
    code, _, err = _cli(monkeypatch, capsys, "models", "download", "--url", url, "--dest", "w.pt")
    assert code == 2
    assert "HTTP 404" in err and url in err and "--url" in err
    assert "Traceback" not in err


def test_cli_list_without_manifest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = _cli(monkeypatch, capsys, "models", "list")
    assert code == 0 and "lockers models download" in out


def test_cli_verify_missing_weights_in_a_subprocess(tmp_path: Path) -> None:
    """The real entry point in a fresh process: exit code 2, message and hint, no traceback."""
    code = "import sys; from lockers.cli import main; main(); "
    proc = subprocess.run(
        [sys.executable, "-c", code, "models", "verify", "nowhere.pt"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert proc.returncode == 2
    assert "error: embedding weights not found at nowhere.pt" in proc.stderr
    assert "hint: run `lockers models download --dest nowhere.pt`" in proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
