"""The in-memory gallery of two kiosks on one database: each reads only what changed since its
last look (never every active rental id per call), sees the other kiosk's registrations and
endings on its next call, and never opens a rental another kiosk ended, even when it is stale."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from lockers_storekit import MODEL, ScriptedBoard, face
from site_kit import SiteKiosk, kiosk_settings, start_kiosk
from sqlalchemy import text

from lockers.kiosk import gallery
from lockers.kiosk.dto import RegisterOutcome, RetrieveOutcome
from lockers.store import rentals
from lockers.store.bulk import seed_active_rentals
from lockers.store.db import Database
from lockers.store.models import RentalState, utcnow

Calls = dict[str, int]


@pytest.fixture
def site_pair(tmp_path: Path, db_url: str, database: Database) -> Iterator[tuple[SiteKiosk, ...]]:
    kiosks = [start_kiosk(kiosk_settings(tmp_path, db_url, k)) for k in ("kiosk-a", "kiosk-b")]
    yield tuple(kiosks)
    for kiosk in kiosks:
        kiosk.close()


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> Calls:
    """How often the galleries read every active rental id, and read the changes."""
    calls: Calls = {"all_ids": 0, "changes": 0}

    def counted(name: str, real: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            calls[name] += 1
            return real(*args, **kwargs)

        return wrapper

    monkeypatch.setattr(
        gallery.rentals, "active_rental_ids", counted("all_ids", rentals.active_rental_ids)
    )
    monkeypatch.setattr(
        gallery.rentals, "changed_rentals", counted("changes", rentals.changed_rentals)
    )
    return calls


def pulses(kiosk: SiteKiosk) -> int:
    """How many unlocks the kiosk's (scripted) board was asked for."""
    assert isinstance(kiosk.board, ScriptedBoard)
    return len(kiosk.board.calls)


def rental_state(kiosk: SiteKiosk, rental_id: int | None) -> RentalState:
    with kiosk.store.database.transaction() as session:
        return rentals.require_rental(session, rental_id or 0).state


def test_a_retrieve_reads_only_what_changed(site_pair: tuple[SiteKiosk, ...], reads: Calls) -> None:
    one, two = site_pair
    assert one.rental.prepare(MODEL) == 0 and two.rental.prepare(MODEL) == 0
    assert reads == {"all_ids": 2, "changes": 0}  # each kiosk's start-up load
    for seed in range(3):
        assert two.rental.register(face(seed), consent=True, model_version=MODEL).rental_id
    assert reads == {"all_ids": 2, "changes": 2}  # kiosk 2 saw its own 1st and 2nd rentals
    for _ in range(3):  # nothing changed: one read of the counter, no rental read at all
        early = one.rental.retrieve(face(50), model_version=MODEL, final=False)
        assert early.outcome is RetrieveOutcome.UNDECIDED
    assert reads == {"all_ids": 2, "changes": 3}  # kiosk 1 read the 3 new rentals once
    got = one.rental.retrieve(face(1), model_version=MODEL)
    assert got.outcome is RetrieveOutcome.AT_OTHER_KIOSK
    assert reads["all_ids"] == 2


def test_a_rental_registered_at_kiosk_2_is_matched_at_kiosk_1_on_its_next_retrieve(
    site_pair: tuple[SiteKiosk, ...],
) -> None:
    one, two = site_pair
    mine = one.rental.register(face(1), consent=True, model_version=MODEL)
    assert one.rental.prepare(MODEL) == 1  # kiosk 1's gallery is loaded and current
    theirs = two.rental.register(face(2), consent=True, model_version=MODEL)
    assert theirs.outcome is RegisterOutcome.OPENED
    assert theirs.rental_id not in one.rental._gallery.rental_ids  # kiosk 1 did not look yet
    got = one.rental.retrieve(face(2, k=3, noise=0.08), model_version=MODEL)
    assert (got.outcome, got.rental_id, got.kiosk_id) == (
        RetrieveOutcome.AT_OTHER_KIOSK,
        theirs.rental_id,
        "kiosk-b",
    )
    assert one.rental._gallery.rental_ids == {mine.rental_id, theirs.rental_id}
    # ... and a face registering twice is found across kiosks as well.
    again = one.rental.register(face(2), consent=True, model_version=MODEL)
    assert again.outcome is RegisterOutcome.ACTIVE_ELSEWHERE


def test_a_rental_ended_at_kiosk_2_leaves_kiosk_1s_gallery(
    site_pair: tuple[SiteKiosk, ...],
) -> None:
    one, two = site_pair
    theirs = two.rental.register(face(2), consent=True, model_version=MODEL)
    assert one.rental.prepare(MODEL) == 1
    assert two.rental.retrieve(face(2), model_version=MODEL).outcome is RetrieveOutcome.OPENED
    before = pulses(one)
    got = one.rental.retrieve(face(2), model_version=MODEL)
    assert got.outcome is RetrieveOutcome.NO_MATCH
    assert theirs.rental_id not in one.rental._gallery.rental_ids
    assert pulses(one) == before


def test_expiry_at_kiosk_2_drops_the_templates_at_kiosk_1(
    site_pair: tuple[SiteKiosk, ...],
) -> None:
    one, two = site_pair
    gone = one.rental.register(face(1), consent=True, model_version=MODEL)
    kept = one.rental.register(face(3), consent=True, model_version=MODEL)
    assert one.rental.prepare(MODEL) == 2
    later = utcnow() + timedelta(hours=one.settings.privacy.rental_max_hours + 73)
    with two.store.database.transaction() as session:  # only the first one runs out
        rentals.require_rental(session, kept.rental_id or 0).expires_at = later + timedelta(days=1)
    assert two.rental.housekeeping(later).expired_rentals == (gone.rental_id,)
    assert one.rental.retrieve(face(1), model_version=MODEL).outcome is RetrieveOutcome.NO_MATCH
    assert one.rental._gallery.rental_ids == {kept.rental_id}
    assert one.rental.retrieve(face(3), model_version=MODEL).outcome is RetrieveOutcome.OPENED


def test_a_stale_gallery_never_opens_a_rental_another_kiosk_ended(
    site_pair: tuple[SiteKiosk, ...], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Kiosk 1's gallery is made blind to changes; kiosk 2 expires kiosk 1's rental. The
    database's templates (confirm) and the rental, re-read locked in the retrieve's
    transaction, still refuse; with the confirmation fooled too, the locked re-read alone does."""
    one, two = site_pair
    mine = one.rental.register(face(1), consent=True, model_version=MODEL)
    assert one.rental.prepare(MODEL) == 1
    frozen = rentals.change_marker
    with one.store.database.transaction() as session:
        seen = frozen(session)
    monkeypatch.setattr(gallery.rentals, "change_marker", lambda _session: seen)
    later = utcnow() + timedelta(hours=one.settings.privacy.rental_max_hours + 73)
    assert two.rental.housekeeping(later).expired_rentals == (mine.rental_id,)
    assert mine.rental_id in one.rental._gallery.rental_ids  # stale on purpose
    before = pulses(one)

    monkeypatch.setattr(gallery.GalleryCache, "confirm", lambda *_args: True)
    got = one.rental.retrieve(face(1), model_version=MODEL)
    assert (got.outcome, pulses(one)) == (RetrieveOutcome.NO_MATCH, before)
    monkeypatch.undo()
    monkeypatch.setattr(gallery.rentals, "change_marker", lambda _session: seen)
    got = one.rental.retrieve(face(1), model_version=MODEL)
    assert (got.outcome, pulses(one)) == (RetrieveOutcome.NO_MATCH, before)
    assert rental_state(one, mine.rental_id) is RentalState.EXPIRED


def test_a_forgotten_rental_whose_end_rolled_back_comes_back(
    site_pair: tuple[SiteKiosk, ...],
) -> None:
    """``forget`` runs inside the transaction that ends the rental; if that transaction rolls
    back, nothing is stamped, so the next sync looks the forgotten rental up by id."""
    one, _two = site_pair
    mine = one.rental.register(face(1), consent=True, model_version=MODEL)
    assert one.rental.prepare(MODEL) == 1
    one.rental._gallery.forget(mine.rental_id or 0)
    assert one.rental._gallery.rental_ids == frozenset()
    assert one.rental.prepare(MODEL) == 1
    assert one.rental.retrieve(face(1), model_version=MODEL).outcome is RetrieveOutcome.OPENED


def test_a_counter_that_went_back_or_vanished_makes_the_gallery_read_everything(
    site_pair: tuple[SiteKiosk, ...], reads: Calls
) -> None:
    one, two = site_pair

    def full_reads_of_kiosk_1(expected: int) -> int:
        """Kiosk 1's gallery size after one sync that read every active rental id."""
        before = reads["all_ids"]
        size = one.rental.prepare(MODEL)
        assert reads["all_ids"] == before + 1
        assert size == expected
        return size

    first = two.rental.register(face(1), consent=True, model_version=MODEL)
    full_reads_of_kiosk_1(1)
    with two.store.database.transaction() as session:  # an older backup restored under it
        session.execute(text("UPDATE rental_change_counter SET seq = 0"))
    full_reads_of_kiosk_1(1)
    with two.store.database.transaction() as session:
        session.execute(text("DELETE FROM rental_change_counter"))
    second = two.rental.register(face(2), consent=True, model_version=MODEL)
    assert second.outcome is RegisterOutcome.OPENED
    full_reads_of_kiosk_1(2)
    assert one.rental._gallery.rental_ids == {first.rental_id, second.rental_id}
    assert two.rental.retrieve(face(1), model_version=MODEL).outcome is RetrieveOutcome.OPENED
    full_reads_of_kiosk_1(1)  # on every call while the counter is missing, and still right


def test_a_mass_expiry_is_read_again_in_one_go(
    site_pair: tuple[SiteKiosk, ...], reads: Calls
) -> None:
    """Past ``LOAD_ALL_ABOVE`` forgotten rentals the next sync reads every active id once
    instead of an IN list SQLite may refuse."""
    one, _two = site_pair
    count = gallery.LOAD_ALL_ABOVE + 1
    faces = np.random.default_rng(3).standard_normal((count, 1, 512)).astype(np.float32)
    with one.store.database.transaction() as session:
        seed_active_rentals(
            session, faces, one.store.cipher, now=utcnow(), model_version=MODEL, kiosk_id="kiosk-a"
        )
    assert one.rental.prepare(MODEL) == count
    later = utcnow() + timedelta(hours=one.settings.privacy.rental_max_hours + 73)
    assert len(one.rental.housekeeping(later).expired_rentals) == count
    before = reads["all_ids"]
    assert one.rental.prepare(MODEL) == 0 and reads["all_ids"] == before + 1


def test_a_registration_never_reopens_a_rental_another_kiosk_ended(
    site_pair: tuple[SiteKiosk, ...], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The duplicate check's match is stale (kiosk 2 ended the rental after kiosk 1 matched
    it, here: a blind gallery and a fooled confirmation): the rental, locked and read again in
    the registration's transaction, is no longer active, so the face gets a new locker and the
    old one is not reopened for it."""
    one, two = site_pair
    mine = one.rental.register(face(1), consent=True, model_version=MODEL)
    assert one.rental.prepare(MODEL) == 1
    with one.store.database.transaction() as session:
        seen = rentals.change_marker(session)
    monkeypatch.setattr(gallery.rentals, "change_marker", lambda _session: seen)
    monkeypatch.setattr(gallery.GalleryCache, "confirm", lambda *_args: True)
    later = utcnow() + timedelta(hours=one.settings.privacy.rental_max_hours + 73)
    assert two.rental.housekeeping(later).expired_rentals == (mine.rental_id,)
    assert mine.rental_id in one.rental._gallery.rental_ids  # stale on purpose

    again = one.rental.register(face(1), consent=True, model_version=MODEL)
    assert again.outcome is RegisterOutcome.OPENED
    assert (again.rental_id, again.locker_label) != (mine.rental_id, mine.locker_label)
    assert rental_state(one, mine.rental_id) is RentalState.EXPIRED


def test_a_mass_expiry_still_reads_the_templates_another_kiosk_added(
    site_pair: tuple[SiteKiosk, ...],
) -> None:
    """The mass-expiry path reads ids only: a still-known rental whose templates changed at
    another kiosk meanwhile is read again from its stamp, not kept with its old templates."""
    one, two = site_pair
    count = gallery.LOAD_ALL_ABOVE + 1
    faces = np.random.default_rng(4).standard_normal((count, 1, 512)).astype(np.float32)
    with one.store.database.transaction() as session:
        seed_active_rentals(
            session, faces, one.store.cipher, now=utcnow(), model_version=MODEL, kiosk_id="kiosk-a"
        )
    kept = one.rental.register(face(3), consent=True, model_version=MODEL)
    later = utcnow() + timedelta(hours=one.settings.privacy.rental_max_hours + 73)
    with one.store.database.transaction() as session:
        rentals.require_rental(session, kept.rental_id or 0).expires_at = later + timedelta(days=1)
    assert one.rental.prepare(MODEL) == count + 1
    with two.store.database.transaction() as session:
        rental = rentals.require_rental(session, kept.rental_id or 0)
        rentals.add_templates(session, rental, face(5, k=2), two.store.cipher)
    assert len(one.rental.housekeeping(later).expired_rentals) == count
    assert one.rental.prepare(MODEL) == 1
    with one.store.database.transaction() as session:
        stored = rentals.active_templates(session, one.store.cipher, MODEL)
    assert len(one.rental._gallery._matcher) == sum(len(rows) for rows in stored.values())
