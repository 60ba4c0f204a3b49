"""Dataset trees, identity splits and pairs files (CSV and LFW)."""

from __future__ import annotations

from pathlib import Path

import pytest

from lockers.training.dataset import (
    DatasetError,
    IdentitySplit,
    generate_pairs,
    read_pairs,
    scan_identity_tree,
    split_by_identity,
    write_pairs_csv,
)
from lockers.training.sampling import BatchPlan, flip_mask


def test_scan_sorts_identities_and_skips_other_files(shapes_dataset: Path) -> None:
    (shapes_dataset / "id00" / "notes.txt").write_text("not an image")
    index = scan_identity_tree(shapes_dataset)
    assert index.identities == tuple(f"id{i:02d}" for i in range(6))
    assert len(index) == 36 and index.paths[0] == "id00/0.png" and index.labels[-1] == 5


def test_scan_errors_say_what_is_wrong(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="does not exist"):
        scan_identity_tree(tmp_path / "nope")
    (tmp_path / "empty" / "person").mkdir(parents=True)
    with pytest.raises(DatasetError, match="no images found") as info:
        scan_identity_tree(tmp_path / "empty")
    assert "ROOT/<person>/<image>" in info.value.hint


def test_split_is_identity_disjoint_reproducible_and_saved(shapes_dataset, tmp_path) -> None:
    index = scan_identity_tree(shapes_dataset)
    split = split_by_identity(index, 0.34, seed=5)
    assert len(split.val) == 2 and set(split.train) | set(split.val) == set(index.identities)
    assert split == split_by_identity(index, 0.34, seed=5)
    split.save(tmp_path / "s.json")
    assert IdentitySplit.load(tmp_path / "s.json") == split
    sub = index.subset(set(split.val))
    assert sub.identities == split.val and set(sub.labels) == {0, 1}


def test_generated_pairs_have_no_repeats_and_right_labels(shapes_dataset, tmp_path) -> None:
    index = scan_identity_tree(shapes_dataset)
    pairs = generate_pairs(index, n_genuine=20, n_impostor=50, seed=1)
    assert sum(p.same for p in pairs) == 20 and len(pairs) == 70
    assert len({(p.a, p.b) for p in pairs}) == 70
    assert all((p.a.split("/")[0] == p.b.split("/")[0]) == p.same for p in pairs)
    write_pairs_csv(pairs, tmp_path / "p.csv")
    assert read_pairs(tmp_path / "p.csv") == pairs


def test_lfw_pairs_format(tmp_path: Path) -> None:
    path = tmp_path / "pairs.txt"
    path.write_text("10\t300\nAbel_Pacheco\t1\t4\nAbdel_Madi_Shabneh\t1\tDean_Barker\t1\n")
    same, diff = read_pairs(path)
    assert (same.a, same.b, same.same) == (
        "Abel_Pacheco/Abel_Pacheco_0001.jpg",
        "Abel_Pacheco/Abel_Pacheco_0004.jpg",
        True,
    )
    assert (diff.b, diff.same) == ("Dean_Barker/Dean_Barker_0001.jpg", False)


@pytest.mark.parametrize(
    ("text", "match"),
    [("a,b,same\nx.jpg,y.jpg,yes\n", "line 2"), ("just one field\nx\n", "line 1"), ("", "empty")],
)
def test_bad_pairs_files_name_the_line(tmp_path: Path, text: str, match: str) -> None:
    path = tmp_path / "pairs.csv"
    path.write_text(text)
    with pytest.raises(DatasetError, match=match):
        read_pairs(path)


def test_batch_plan_slices_global_batches_across_ranks() -> None:
    labels = [i // 4 for i in range(32)]
    whole = [b for b in BatchPlan(labels, 8, seed=3)]
    halves = [list(BatchPlan(labels, 8, seed=3, rank=r, world_size=2)) for r in (0, 1)]
    assert [a + b for a, b in zip(*halves, strict=True)] == whole
    assert sorted(i for b in whole for i in b) == list(range(32))  # a pass over every image


def test_pk_batches_hold_whole_identity_groups() -> None:
    labels = [i // 3 for i in range(30)]  # 10 people, 3 images each; K = 4 needs replacement
    plan = BatchPlan(labels, 16, seed=0, world_size=2, rank=1, images_per_identity=4)
    for batch in plan:
        people = [labels[i] for i in batch]
        assert len(batch) == 8
        assert people[:4] == [people[0]] * 4 and people[4:] == [people[4]] * 4


def test_flip_mask_is_reproducible() -> None:
    assert (flip_mask(1, 2, 3, 16) == flip_mask(1, 2, 3, 16)).all()
    assert not (flip_mask(1, 2, 3, 64) == flip_mask(1, 2, 4, 64)).all()
