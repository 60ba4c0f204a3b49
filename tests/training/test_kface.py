"""K-Face import: the layout, the filters, box files, the kiosk's pipeline, resume, workers.

Real photos (``../shared/faces``) in the real K-Face layout, the real ONNX detector, real files.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from lockers.cli import app
from lockers.config import Settings, load_settings
from lockers.training.dataset import DatasetError, scan_identity_tree
from lockers.training.kface import JOURNAL_NAME, REPORT_NAME, import_kface
from lockers.training.kface_layout import (
    AxisFilter,
    BoxFileError,
    parse_axis_filter,
    parse_box_text,
    read_box_file,
    scan_kface,
)
from lockers.training.kface_worker import ImportOptions

from .kface_tree import NO_FACE_PERSON, PEOPLE, KFaceTree, build_kface_tree

runner = CliRunner()


@pytest.fixture(scope="session")
def settings() -> Settings:
    return load_settings(None, env={})


@pytest.fixture(scope="session")
def kface_tree(
    shared_faces: Path, tmp_path_factory: pytest.TempPathFactory, settings: Settings
) -> KFaceTree:
    from lockers.vision.detector import FaceDetector
    from lockers.vision.image_io import load_image

    detector = FaceDetector(
        settings.detection, threads=1, cache_dir=settings.recognition.weights.parent
    )

    def box(path: Path) -> tuple[float, float, float, float] | None:
        subject = detector.detect(load_image(path)).subject
        return None if subject is None else subject.box

    return build_kface_tree(shared_faces, tmp_path_factory.mktemp("kface") / "src", box)


# ----------------------------------------------------------------------------- layout


def test_axis_filters_take_values_ranges_and_optional_prefixes() -> None:
    assert parse_axis_filter("angle", "C4-C10,C14") == frozenset([*range(4, 11), 14])
    assert parse_axis_filter("lux", "1-3") == frozenset({1, 2, 3})
    assert parse_axis_filter("accessory", "S001,S002") == frozenset({1, 2})
    assert parse_axis_filter("expression", None) is None
    with pytest.raises(DatasetError, match=r"--angles 'L1-L3'.*not a angle value"):
        parse_axis_filter("angle", "L1-L3")
    with pytest.raises(DatasetError, match="runs backwards") as err:
        parse_axis_filter("lux", "L10-L1")
    assert "L1-L10" in err.value.hint


def test_box_files_in_the_accepted_forms() -> None:
    assert parse_box_text("10 20 100 120\n").box == (10, 20, 110, 140)
    assert parse_box_text("bbox: 10, 20, 100, 120").box == (10, 20, 110, 140)
    assert parse_box_text("10\t20\t110\t140", "xyxy").box == (10, 20, 110, 140)
    with_points = parse_box_text("face\n10 20 100 120\n30 40 70 40\n50 60\n40 80 60 80\n")
    assert with_points.landmark_count == 5
    for bad, why in (
        ("", "no line with a box"),
        ("bbox: left top width", "no line with a box"),
        ("10 20 100", "3 numbers, a box needs 4"),
        ("10 20 -5 120", "no area"),
        ("10 20 100 12O", "mixes numbers and text"),
        ("10 20 100 120\n1 2 3", "x y pairs"),
    ):
        with pytest.raises(BoxFileError, match=why):
            parse_box_text(bad)


def test_box_file_in_korean_windows_encoding(tmp_path: Path) -> None:
    path = tmp_path / "C7.txt"
    path.write_bytes("얼굴 영역\n10 20 100 120\n".encode("cp949"))
    annotation = read_box_file(path)
    assert annotation is not None and annotation.box == (10, 20, 110, 140)
    assert read_box_file(tmp_path / "C8.txt") is None
    path.write_bytes(b"\xff\xfe\x00\x81garbage")
    with pytest.raises(BoxFileError):
        read_box_file(path)


def test_scan_finds_the_layout_and_counts_what_the_filters_leave_out(kface_tree: KFaceTree) -> None:
    everything = scan_kface(kface_tree.root)
    assert sorted(i.rel for i in everything.selected) == sorted(kface_tree.images)
    assert everything.people == sorted([*PEOPLE, NO_FACE_PERSON])
    assert everything.ignored == {"README.txt": "not a person folder (a file at the top level)"}
    kept = scan_kface(kface_tree.root, AxisFilter.parse(lux="L1-L10", angles="C4-C10"))
    assert all(i.angle != "C19" and i.lux != "L25" for i in kept.selected)
    assert kept.filtered["lux"] == {"L25": 1}  # person01's 6th photo
    assert kept.filtered["angle"] == {"C19": 1}  # person01's 5th photo
    assert len(kept.selected) + kept.filtered_total == len(everything.selected)


def test_a_wrong_source_layout_is_one_clear_error(kface_tree: KFaceTree, tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="does not exist"):
        scan_kface(tmp_path / "missing")
    with pytest.raises(DatasetError, match=r"expected SRC/<person>/S001-S006/L1-L30") as err:
        scan_kface(kface_tree.root / "19062421")
    assert "one person's folder: pass its parent" in err.value.hint
    flat = tmp_path / "flat"
    (flat / "alice").mkdir(parents=True)
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(flat / "alice" / "1.jpg")
    with pytest.raises(DatasetError, match=r"found alice/ \(no <person>/S001/… folders\)"):
        scan_kface(flat)


# ----------------------------------------------------------------------------- import


def test_import_writes_the_train_tree_and_reports_every_file(
    kface_tree: KFaceTree, tmp_path: Path, settings: Settings
) -> None:
    dst = tmp_path / "faces"
    seen: list[tuple[int, int]] = []
    result = import_kface(kface_tree.root, dst, settings, progress=lambda d, t: seen.append((d, t)))
    r = result.report
    assert seen[0] == (0, len(kface_tree.images)) and seen[-1][0] == len(kface_tree.images)
    # Every readable portrait gives a face; the corrupt image and the blank frame do not.
    assert r["written"] == len(kface_tree.images) - 2
    assert r["rejected"][kface_tree.corrupt][0].startswith("unreadable: ")
    assert "truncated" in r["rejected"][kface_tree.corrupt][0]
    assert r["rejected"][f"{NO_FACE_PERSON}/S001/L1/E01/C7.jpg"] == ["no_face"]
    assert r["reasons"] == {"unreadable": 1, "no_face": 1}
    assert r["people_without_faces"] == [NO_FACE_PERSON]
    # Box files: used where present and readable; the malformed one is reported and skipped,
    # and its image still goes through the kiosk's detector.
    boxes = r["box_files"]
    assert boxes["located_by_box_file"] == len(kface_tree.with_box)
    assert boxes["unusable"] == 1
    assert "no line with a box" in boxes["problems"][kface_tree.malformed_box]
    assert r["faces_per_person"]["19062431"] == 3
    # Per-axis counts add up.
    for rows in r["per_axis"].values():
        assert sum(row["written"] for row in rows.values()) == r["written"]
        assert sum(row["rejected"] for row in rows.values()) == r["rejected_count"]
    assert r["per_axis"]["accessory"]["S002"]["written"] == 1
    # The output is what `lockers train` reads: one folder per person, 160x160 faces.
    index = scan_identity_tree(dst)
    assert index.identities == tuple(sorted(PEOPLE))
    assert "19062421/S001_L1_E01_C7.png" in index.paths
    with Image.open(dst / index.paths[0]) as face:
        assert face.size == (160, 160)
    assert json.loads((dst / REPORT_NAME).read_text())["written"] == r["written"]
    assert r["speed"]["images_processed"] == len(kface_tree.images)


def test_box_file_faces_match_the_kiosk_pipeline(
    kface_tree: KFaceTree, tmp_path: Path, settings: Settings
) -> None:
    """A face located by its box file is exactly the crop the kiosk's own pass gives."""
    from lockers.training.faces import FacePreparer

    dst = tmp_path / "faces"
    import_kface(kface_tree.root, dst, settings, AxisFilter.parse(accessories="S001"))
    preparer = FacePreparer(kface_tree.root, settings)
    rel = kface_tree.with_box[0]
    assert rel.startswith("19062421/S001/L1/E01/C7")
    kiosk = preparer.prepare(rel).faces["aligned"].astype(np.int16)
    with Image.open(dst / "19062421" / "S001_L1_E01_C7.png") as img:
        imported = np.asarray(img).astype(np.int16)
    assert np.array_equal(imported, kiosk)


def test_a_second_run_skips_finished_files(
    kface_tree: KFaceTree, tmp_path: Path, settings: Settings
) -> None:
    dst = tmp_path / "faces"
    keep = AxisFilter.parse(lux="L1-L10", angles="C4-C10")
    first = import_kface(kface_tree.root, dst, settings, keep).report
    removed = dst / "19062421" / "S001_L1_E01_C7.png"
    removed.unlink()  # a face lost since: redone, everything else skipped
    second = import_kface(kface_tree.root, dst, settings, keep).report
    assert second["skipped_already_done"] == first["images_selected"] - 1
    assert second["speed"]["images_processed"] == 1 and removed.is_file()
    assert second["written"] == first["written"] and second["rejected"] == first["rejected"]
    # Other settings, same folder: refused, never mixed.
    with pytest.raises(DatasetError, match="other settings") as err:
        import_kface(kface_tree.root, dst, settings, keep, ImportOptions(mode="crop"))
    assert "--restart" in err.value.hint
    redone = import_kface(
        kface_tree.root, dst, settings, keep, ImportOptions(mode="crop"), restart=True
    ).report
    assert redone["skipped_already_done"] == 0 and redone["input_mode"] == "crop"


def test_a_journal_cut_short_resumes(
    kface_tree: KFaceTree, tmp_path: Path, settings: Settings
) -> None:
    dst = tmp_path / "faces"
    keep = AxisFilter.parse(accessories="S001", lux="L1", expressions="E01")
    total = import_kface(kface_tree.root, dst, settings, keep).report["images_selected"]
    journal = dst / JOURNAL_NAME
    lines = journal.read_text().splitlines()
    journal.write_text("\n".join(lines[:2]) + "\n" + lines[2][:15])  # power cut mid-line
    again = import_kface(kface_tree.root, dst, settings, keep).report
    assert again["skipped_already_done"] == 1
    assert again["speed"]["images_processed"] == total - 1


def test_two_spawned_workers_give_the_same_result(
    kface_tree: KFaceTree, tmp_path: Path, settings: Settings
) -> None:
    one = import_kface(kface_tree.root, tmp_path / "one", settings).report
    two = import_kface(kface_tree.root, tmp_path / "two", settings, workers=2).report
    assert two["speed"]["workers"] == 2
    for key in ("written", "rejected", "faces_per_person", "per_axis", "box_files"):
        assert two[key] == one[key], key
    a = np.asarray(Image.open(tmp_path / "one" / "19062421" / "S001_L1_E01_C7.png"))
    b = np.asarray(Image.open(tmp_path / "two" / "19062421" / "S001_L1_E01_C7.png"))
    assert np.array_equal(a, b)


def test_cli_import_kface(kface_tree: KFaceTree, tmp_path: Path) -> None:
    dst = tmp_path / "faces"
    result = runner.invoke(
        app,
        [
            "dataset",
            "import-kface",
            str(kface_tree.root),
            str(dst),
            "--workers",
            "1",
            "--angles",
            "C4-C10",
            "--lux",
            "L1-L10",
        ],
    )
    assert result.exit_code == 0, result.output
    out = " ".join(result.output.split())
    assert "2 left out by the filters" in out
    assert "rejected, unreadable: 1" in out and "rejected, no_face: 1" in out
    assert f"{NO_FACE_PERSON}/S001/L1/E01/C7.jpg: no_face" in out
    assert "box file skipped" in out and "no line with a box" in out
    assert f"no usable image for 1 people: {NO_FACE_PERSON}" in out
    assert "images/s" in out and f"report:{dst / REPORT_NAME}" in "".join(out.split())
    # User errors reach `lockers.cli.main` as LockersError (message, hint, exit code 2).
    bad = runner.invoke(
        app, ["dataset", "import-kface", str(kface_tree.root / "19062421"), str(tmp_path / "x")]
    )
    assert isinstance(bad.exception, DatasetError)
    assert "is not a K-Face release" in bad.exception.message
    bad = runner.invoke(
        app,
        ["dataset", "import-kface", str(kface_tree.root), str(tmp_path / "x"), "--angles", "C4-"],
    )
    assert isinstance(bad.exception, DatasetError) and "--angles 'C4-'" in bad.exception.message


def test_a_box_file_picks_the_subject_and_a_bad_box_falls_back_to_the_detector(
    shared_faces: Path, tmp_path: Path, settings: Settings
) -> None:
    """Two people in one frame: without a box the kiosk's rule refuses it; a box file names
    the annotated face (its box, landmarks and crop still the detector's). A box outside the
    image is reported and the image goes through the whole-frame detector."""
    import shutil

    src = tmp_path / "src"
    scene = shared_faces / "scenes" / "couple.jpg"
    for person, box in (
        ("20000001", None),
        ("20000002", "626 128 262 377"),
        ("20000003", "5000 5000 10 10"),
    ):
        folder = src / person / "S001" / "L1" / "E01"
        folder.mkdir(parents=True)
        shutil.copyfile(scene, folder / "C7.jpg")
        if box:
            (folder / "C7.txt").write_text(box + "\n")
    r = import_kface(src, tmp_path / "faces", settings).report
    assert r["rejected"]["20000001/S001/L1/E01/C7.jpg"] == ["multiple_faces"]
    assert "20000002/S001/L1/E01/C7.jpg" not in r["rejected"]
    assert r["faces_per_person"] == {"20000002": 1}
    assert r["box_files"]["located_by_box_file"] == 1 and r["box_files"]["unusable"] == 1
    problem = r["box_files"]["problems"]["20000003/S001/L1/E01/C7.txt"]
    assert "lies outside" in problem and "--box-format" in problem
    assert r["rejected"]["20000003/S001/L1/E01/C7.jpg"] == ["multiple_faces"]
