"""``lockers detect | embed | compare | bench`` end to end, as a user runs them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

FACES = Path(__file__).resolve().parents[1] / "fixtures" / "faces"


@pytest.fixture(scope="module")
def config_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A config whose models folder is shared by the module (ONNX exports happen once)."""
    site = tmp_path_factory.mktemp("site")
    path = site / "config.yaml"
    path.write_text("recognition:\n  weights: models/vggface2.pt\n", encoding="utf-8")
    return path


def lockers(config: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lockers", "--config", str(config), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_detect_json_for_one_and_several_images(config_file: Path, tmp_path: Path) -> None:
    one = lockers(config_file, "detect", "--json", str(FACES / "person01_1.jpg"))
    assert one.returncode == 0, one.stderr
    result = json.loads(one.stdout)
    assert result["image"].endswith("person01_1.jpg") and result["multiple_faces"] is False
    (face,) = result["faces"]
    assert set(face) == {"box", "prob", "landmarks", "quality"}
    assert len(face["box"]) == 4 and len(face["landmarks"]) == 5 and face["quality"]["ok"]

    broken = tmp_path / "broken.jpg"
    broken.write_bytes((FACES / "couple.jpg").read_bytes()[:5000])
    several = lockers(
        config_file, "detect", "--json", str(FACES / "couple.jpg"), str(broken)
    )
    assert several.returncode == 1  # one image failed; the others are still reported
    couple, failed = json.loads(several.stdout)
    assert couple["multiple_faces"] is True and len(couple["faces"]) == 2
    assert "truncated" in failed["error"]


def test_a_corrupt_image_is_a_clear_error_not_a_traceback(
    config_file: Path, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n not really")
    result = lockers(config_file, "detect", str(bad))
    assert result.returncode == 2
    assert "truncated" in result.stderr and str(bad) in result.stderr
    assert "Traceback" not in result.stderr


def test_compare_and_embed_refuse_to_run_without_weights(config_file: Path) -> None:
    result = lockers(config_file, "compare", str(FACES / "person01_1.jpg"),
                     str(FACES / "person01_2.jpg"))
    assert result.returncode == 2
    assert "lockers models download" in result.stderr and "Traceback" not in result.stderr


def test_compare_and_embed_with_the_development_flag(config_file: Path, tmp_path: Path) -> None:
    result = lockers(config_file, "compare", "--json", "--dev-allow-untrained",
                     str(FACES / "person01_1.jpg"), str(FACES / "person01_2.jpg"))
    assert result.returncode == 0, result.stderr
    assert "UNTRAINED" in result.stderr
    verdict = json.loads(result.stdout)
    assert -1 <= verdict["score"] <= 1 and isinstance(verdict["same"], bool)

    out = tmp_path / "e.npy"
    result = lockers(config_file, "embed", "--dev-allow-untrained", "--out", str(out),
                     str(FACES / "person01_1.jpg"), str(FACES / "person02_1.jpg"))
    assert result.returncode == 0, result.stderr
    vectors = np.load(out)
    assert vectors.shape == (2, 512) and np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-5)

    crowd = lockers(config_file, "embed", "--dev-allow-untrained", str(FACES / "couple.jpg"))
    assert crowd.returncode == 2 and "multiple_faces" in crowd.stderr


def test_bench_prints_the_promised_figures(config_file: Path) -> None:
    # The slow parts that have their own tests (session options, a 10k store) are cut short.
    result = lockers(
        config_file, "bench", "--frames", "3", "--skip-embedder-options", "--gallery", "50",
        "--flow-repeats", "1", "--json", timeout=600,
    )
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout)
    for key in ("end_to_end_p50_ms", "default_end_to_end_p50_ms", "speedup_vs_default"):
        assert figures[key] > 0
    for stage in ("decode", "detect", "quality", "align", "embed", "match_100", "match_10000",
                  "match_100000", "end_to_end"):
        assert set(figures["ours"][stage]) == {"p50", "p95", "n"}
    assert figures["startup"]["ready_s"] > 0 and figures["startup"]["peak_rss_mb"] > 0
    # Face shown -> unlock command through the real flow, service and emulated board.
    assert figures["face_to_unlock_p50_ms"] > 0
    assert figures["flow"]["retrieve_face_to_unlock_ms"]["n"] == 1
    assert figures["flow"]["gallery_active_rentals"] == 50
    # As a customer lives it: a simulated person, per passive tier (head moves included).
    for key in ("register_total_ms", "retrieve_total_ms"):
        assert set(figures[key]) == {"confident", "unsure"}
        assert all(set(figures[key][tier]) == {"p50", "p95", "n"} for tier in figures[key])
