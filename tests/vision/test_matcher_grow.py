"""FaceMatcher's growable gallery: adding or removing a rental touches only its own rows, and
any sequence of adds and removals answers exactly as a matcher built from scratch would."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lockers.vision.int8_index import quantise
from lockers.vision.matcher import FaceMatcher, MatchResult, normalise
from lockers.vision.template_rows import TemplateRows

DIM = 16

# ("add", identity, templates) enrols (or adds templates to) an identity; ("remove", identity)
# ends it; ("query",) searches, so the int8 snapshot exists while later changes happen.
operations = st.lists(
    st.one_of(
        st.tuples(st.just("add"), st.integers(0, 7), st.integers(1, 4)),
        st.tuples(st.just("remove"), st.integers(0, 8)),
        st.tuples(st.just("query")),
    ),
    max_size=40,
)


def _same(a: MatchResult, b: MatchResult, threshold: float, margin: float) -> None:
    assert a.score == pytest.approx(b.score, abs=1e-5)
    assert a.second_score == pytest.approx(b.second_score, abs=1e-5)
    # Ties within float error (rows summed in another order) are not meaningful examples.
    if min(abs(a.score - threshold), abs(a.score - a.second_score - margin)) > 1e-5:
        assert (a.identity, a.accepted, a.reason) == (b.identity, b.accepted, b.reason)


@settings(max_examples=60, deadline=None)
@given(
    ops=operations,
    seed=st.integers(0, 2**32 - 1),
    indexed=st.booleans(),
    # 1e9: the int8 snapshot is never rebuilt, every change is served around it
    stale_fraction=st.sampled_from([1 / 16, 0.5, 1e9]),
)
def test_any_add_and_remove_sequence_answers_as_a_matcher_built_from_scratch(
    ops: list[tuple], seed: int, indexed: bool, stale_fraction: float
) -> None:
    rng = np.random.default_rng(seed)
    threshold, margin = 0.3, 0.05
    limits = {"index_min_rows": 1, "index_after_queries": 0} if indexed else {}
    limits["index_stale_fraction"] = stale_fraction
    grown = FaceMatcher(threshold, margin, dim=DIM, **limits)
    enrolled: dict[int, np.ndarray] = {}
    for op in ops:
        if op[0] == "add":
            templates = normalise(rng.standard_normal((op[2], DIM)))
            grown.add(op[1], templates)
            enrolled[op[1]] = np.concatenate([enrolled.get(op[1], templates[:0]), templates])
        elif op[0] == "remove":
            grown.remove(op[1])
            enrolled.pop(op[1], None)
        else:
            grown.identify(normalise(rng.standard_normal(DIM))[0])
    fresh = FaceMatcher(threshold, margin, dim=DIM, index_min_rows=10**9)
    for identity, templates in enrolled.items():
        fresh.add(identity, templates)
    assert len(grown) == len(fresh) and grown.identities == fresh.identities
    rows = list(enrolled.values())
    probes = [normalise(rng.standard_normal(DIM))[0]]
    if rows:  # a probe near an enrolled template: the case that decides a door
        near = np.concatenate(rows)[rng.integers(sum(map(len, rows)))]
        probes.append(normalise(near + 0.05 * rng.standard_normal(DIM))[0])
    among = set(rng.choice(9, size=4, replace=False).tolist())
    for probe in probes:
        for subset in (None, among):
            _same(grown.identify(probe, subset), fresh.identify(probe, subset), threshold, margin)
        for identity in enrolled:
            _same(grown.verify(probe, identity), fresh.verify(probe, identity), threshold, 0.0)


@settings(max_examples=80, deadline=None)
@given(
    ops=st.lists(st.tuples(st.booleans(), st.integers(0, 9), st.integers(1, 5)), max_size=60),
    quantise_from=st.integers(0, 60),
)
def test_template_rows_keep_each_owner_s_rows_vectors_and_int8_rows_in_step(
    ops: list[tuple[bool, int, int]], quantise_from: int
) -> None:
    rows = TemplateRows(dim=2)
    expected: dict[int, list[float]] = {}  # owner -> the first value of each of its vectors
    serial = 0.0
    for step, (adding, owner, count) in enumerate(ops):
        if step == quantise_from:
            rows.start_quantising()
        if adding:
            values = [serial + i for i in range(count)]
            serial += count
            rows.append(
                np.array([[v, 1.0] for v in values], dtype=np.float32),
                np.full(count, owner, dtype=np.int64),
            )
            expected.setdefault(owner, []).extend(values)
        else:
            assert rows.remove(owner) == len(expected.pop(owner, []))
        assert len(rows) <= rows.capacity <= max(16, 2 * len(rows))
    assert len(rows) == sum(map(len, expected.values()))
    for owner, values in expected.items():
        owned = rows.rows_of(owner)
        assert sorted(rows.matrix[owned, 0].tolist()) == values
        assert (rows.owners[owned] == owner).all()
    if rows.quantising:  # row by row, the very rows a quantisation of the whole gives
        kept, whole = rows.quantised(), quantise(rows.matrix)
        for name in ("values", "inv_row_scale", "bound_u", "bound_v"):
            assert np.array_equal(getattr(kept, name), getattr(whole, name))


def test_adding_and_removing_a_rental_copies_only_its_own_rows() -> None:
    """The matrix stays in place (no copy of the gallery) while its capacity allows."""
    rng = np.random.default_rng(1)
    matcher = FaceMatcher(0.5, 0.05, dim=DIM)
    matcher.add_many(np.repeat(np.arange(300), 3), normalise(rng.standard_normal((900, DIM))))
    matcher.add_many([-1] * 3, normalise(rng.standard_normal((3, DIM))))  # grows: a copy
    before = matcher._matrix
    for rental in range(5):
        matcher.remove(rental)
        matcher.add_many([1000 + rental] * 3, normalise(rng.standard_normal((3, DIM))))
    assert np.shares_memory(before, matcher._matrix) and len(matcher) == 903


def test_the_int8_snapshot_follows_small_changes_and_is_rebuilt_after_many() -> None:
    rng = np.random.default_rng(2)
    matcher = FaceMatcher(0.5, 0.05, dim=DIM, index_min_rows=1, index_after_queries=0)
    templates = {i: normalise(rng.standard_normal((2, DIM))) for i in range(64)}
    for identity, rows in templates.items():
        matcher.add(identity, rows)
    index = matcher.prepare_index()
    assert index is not None
    matcher.remove(0)  # 2 of 128 rows changed: the snapshot stays and skips them
    matcher.add(100, templates[0])
    assert matcher.identify(templates[0][1]).identity == 100
    assert matcher.identify(templates[5][0]).identity == 5
    assert matcher.prepare_index() is index
    for identity in range(1, 5):  # 4 more identities: 12 of 128 rows, past a sixteenth
        matcher.remove(identity)
    assert matcher.identify(templates[1][0]).identity not in range(5)
    assert matcher.prepare_index() is not index
