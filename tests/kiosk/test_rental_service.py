"""Register and retrieve against a real database and a scripted (or emulated) lock board."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
import yaml
from lockers_storekit import MODEL, ScriptedBoard, face
from sqlalchemy import select

from lockers.config import Settings, load_settings
from lockers.hardware.board import UnlockOutcome
from lockers.kiosk.dto import RegisterOutcome, RetrieveOutcome
from lockers.kiosk.errors import ConsentRequired, InvalidTemplates
from lockers.kiosk.rental_service import RentalService
from lockers.kiosk.startup import Store, start_store
from lockers.store import audit, consistency, rentals
from lockers.store.models import FaceTemplate, LockerStatus, RentalState


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, 12, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def service(settings: Settings, store: Store, board: ScriptedBoard, **kw: object) -> RentalService:
    return RentalService.from_settings(settings, store.database, board, store.cipher, **kw)


def states(store: Store) -> dict[str, str]:
    with store.database.transaction() as session:
        from lockers.store import lockers_repo

        return {lk.label: lk.status.value for lk in lockers_repo.list_lockers(session)}


def actions(store: Store) -> list[tuple[str, str]]:
    with store.database.transaction() as session:
        return [(e.action, e.outcome) for e in audit.entries(session)]


def test_register_then_retrieve(settings: Settings, store: Store, board: ScriptedBoard) -> None:
    svc = service(settings, store, board)
    alice, bob = face(1), face(2)
    first = svc.register(alice, consent=True, model_version=MODEL)
    second = svc.register(bob, consent=True, model_version=MODEL)
    assert (first.outcome, first.locker_label) == (RegisterOutcome.OPENED, "1")
    assert (second.outcome, second.locker_label) == (RegisterOutcome.OPENED, "2")
    assert states(store) == {"1": "occupied", "2": "occupied", "3": "available", "4": "available"}

    got = svc.retrieve(face(2, k=3, noise=0.08), model_version=MODEL)
    assert (got.outcome, got.locker_label, got.rental_id) == (
        RetrieveOutcome.OPENED,
        "2",
        second.rental_id,
    )
    assert got.score is not None and got.score > settings.recognition.threshold
    with store.database.transaction() as session:
        ended = rentals.get_rental(session, second.rental_id or 0)
        assert ended is not None and ended.state == RentalState.ENDED
        assert set(rentals.active_templates(session, store.cipher, MODEL)) == {first.rental_id}
        assert consistency.invariant_violations(session) == []
    assert states(store)["2"] == "available"
    assert ("retrieve", "matched") in actions(store)


def test_same_face_gets_its_locker_back(
    settings: Settings, store: Store, board: ScriptedBoard
) -> None:
    svc = service(settings, store, board)
    first = svc.register(face(5), consent=True, model_version=MODEL)
    again = svc.register(face(5, k=2, noise=0.08), consent=True, model_version=MODEL)
    assert again.outcome is RegisterOutcome.REOPENED_EXISTING
    assert (again.locker_label, again.rental_id) == (first.locker_label, first.rental_id)
    assert states(store)["2"] == "available"
    assert ("register", "duplicate") in actions(store)


def test_not_sent_rolls_the_rental_back(settings: Settings, store: Store) -> None:
    svc = service(settings, store, ScriptedBoard([UnlockOutcome.NOT_SENT]))
    result = svc.register(face(1), consent=True, model_version=MODEL)
    assert result.outcome is RegisterOutcome.NOT_OPENED
    assert states(store)["1"] == "available"
    with store.database.transaction() as session:
        rental = rentals.get_rental(session, result.rental_id or 0)
        assert rental is not None and rental.state == RentalState.VOIDED
        assert rentals.count_templates(session) == 0
    assert ("unlock", "rolled_back") in actions(store)


def test_jammed_door_voids_the_rental_deletes_templates_and_alerts_staff(
    settings: Settings, store: Store
) -> None:
    svc = service(settings, store, ScriptedBoard([UnlockOutcome.JAMMED]))
    result = svc.register(face(1), consent=True, model_version=MODEL)
    assert result.outcome is RegisterOutcome.JAMMED
    with store.database.transaction() as session:
        rental = rentals.get_rental(session, result.rental_id or 0)
        assert rental is not None and rental.state == RentalState.VOIDED
        assert rentals.count_templates(session) == 0
        assert rental.locker.attention and "jammed" in rental.locker.attention
    assert ("unlock", "jammed_rolled_back") in actions(store)
    # The flagged locker is not handed out again; the next user gets the next one.
    assert svc.register(face(2), consent=True, model_version=MODEL).locker_label == "2"


@pytest.mark.parametrize("outcome", [UnlockOutcome.UNCONFIRMED])
def test_unconfirmed_door_keeps_rental_and_alerts_staff(
    settings: Settings, store: Store, outcome: UnlockOutcome
) -> None:
    svc = service(settings, store, ScriptedBoard([outcome]))
    result = svc.register(face(1), consent=True, model_version=MODEL)
    assert result.outcome is RegisterOutcome.DOOR_NOT_CONFIRMED
    with store.database.transaction() as session:
        rental = rentals.get_rental(session, result.rental_id or 0)
        assert rental is not None and rental.state == RentalState.ACTIVE
        assert rental.locker.status == LockerStatus.OCCUPIED
        assert rental.locker.attention and outcome.value in rental.locker.attention
    # A flagged locker is not handed out again; the next user gets the next one.
    assert svc.register(face(2), consent=True, model_version=MODEL).locker_label == "2"


def test_strangers_are_refused_and_back_off(settings: Settings, store: Store) -> None:
    clock = Clock()
    svc = service(settings, store, ScriptedBoard(), clock=clock)
    svc.register(face(1), consent=True, model_version=MODEL)
    waits = []
    for i in range(4):
        waits.append(svc.retrieve(face(100 + i), model_version=MODEL))
        if i < 3:
            clock.now += timedelta(seconds=waits[-1].retry_after_s)
    assert [w.outcome for w in waits] == [RetrieveOutcome.NO_MATCH] * 4
    assert [w.retry_after_s for w in waits] == [0, 0, 2, 4]
    limited = svc.retrieve(face(1), model_version=MODEL)
    assert limited.outcome is RetrieveOutcome.RATE_LIMITED and limited.retry_after_s == 4
    clock.now += timedelta(seconds=5)
    assert svc.retrieve(face(1), model_version=MODEL).outcome is RetrieveOutcome.OPENED
    assert actions(store).count(("retrieve", "no_match")) == 4
    assert ("retrieve", "rate_limited") in actions(store)


def test_other_model_versions_are_never_compared(settings: Settings, store: Store) -> None:
    svc = service(settings, store, ScriptedBoard())
    svc.register(face(1), consent=True, model_version="old-model")
    assert svc.retrieve(face(1), model_version=MODEL).outcome is RetrieveOutcome.NO_MATCH


def test_k_of_n_needs_agreeing_frames(settings: Settings, store: Store) -> None:
    svc = service(settings, store, ScriptedBoard())
    svc.register(face(1), consent=True, model_version=MODEL)
    one_frame = face(1, k=1)
    assert svc.retrieve(one_frame, model_version=MODEL).outcome is RetrieveOutcome.NO_MATCH


def test_retrieve_not_sent_keeps_the_rental(settings: Settings, store: Store) -> None:
    svc = service(settings, store, ScriptedBoard([UnlockOutcome.OPENED, UnlockOutcome.NOT_SENT]))
    reg = svc.register(face(1), consent=True, model_version=MODEL)
    assert svc.retrieve(face(1), model_version=MODEL).outcome is RetrieveOutcome.NOT_OPENED
    again = svc.retrieve(face(1), model_version=MODEL)
    assert (again.outcome, again.rental_id) == (RetrieveOutcome.OPENED, reg.rental_id)


def test_bad_input_is_refused_before_anything_is_stored(settings: Settings, store: Store) -> None:
    svc = service(settings, store, ScriptedBoard())
    with pytest.raises(ConsentRequired):
        svc.register(face(1), consent=False, model_version=MODEL)
    with pytest.raises(InvalidTemplates, match=r"shape \(k, 512\)"):
        svc.register(np.zeros((2, 128), np.float32), consent=True, model_version=MODEL)
    with pytest.raises(InvalidTemplates, match="non-finite"):
        svc.register(np.full((1, 512), np.nan, np.float32), consent=True, model_version=MODEL)
    assert set(states(store).values()) == {"available"}


def test_full_kiosk_and_expiry(settings: Settings, store: Store) -> None:
    clock = Clock()
    svc = service(settings, store, ScriptedBoard(), clock=clock)
    labels = [
        svc.register(face(i), consent=True, model_version=MODEL).locker_label for i in range(4)
    ]
    assert labels == ["1", "2", "3", "4"]
    assert svc.register(face(9), consent=True, model_version=MODEL).outcome is (
        RegisterOutcome.NO_FREE_LOCKER
    )
    hours = settings.privacy.rental_max_hours + settings.privacy.retention_hours
    clock.now += timedelta(hours=hours, seconds=1)
    assert len(svc.expire_overdue()) == 4
    with store.database.transaction() as session:
        assert rentals.count_templates(session) == 0
        assert consistency.invariant_violations(session) == []
    # Belongings may still be inside: lockers stay occupied and flagged, never reallocated.
    assert set(states(store).values()) == {"occupied"}
    assert svc.register(face(9), consent=True, model_version=MODEL).outcome is (
        RegisterOutcome.NO_FREE_LOCKER
    )


def test_with_the_board_emulator(settings: Settings, store: Store) -> None:
    from lockers.hardware.boards import open_board

    with open_board(settings.board, settings.lockers) as real_board:
        svc = RentalService.from_settings(settings, store.database, real_board, store.cipher)
        reg = svc.register(face(3), consent=True, model_version=MODEL)
        assert reg.outcome is RegisterOutcome.OPENED
        got = svc.retrieve(face(3), model_version=MODEL)
        assert (got.outcome, got.locker_label) == (RetrieveOutcome.OPENED, reg.locker_label)


def test_template_bytes_in_the_database_file_are_not_the_vector(
    settings: Settings, store: Store, backend: str
) -> None:
    if backend != "sqlite":
        pytest.skip("raw-file check is for the SQLite file")
    vectors = face(4)
    service(settings, store, ScriptedBoard()).register(vectors, consent=True, model_version=MODEL)
    store.database.dispose()  # checkpoint the WAL into the main file
    path = Path(store.database.url.database or "")
    raw = path.read_bytes() + (
        path.with_name("lockers.db-wal").read_bytes()
        if path.with_name("lockers.db-wal").exists()
        else b""
    )
    for row in vectors:
        assert row.astype("<f4").tobytes()[:64] not in raw


def test_start_up_refuses_a_wrong_key(settings: Settings, store: Store) -> None:
    from lockers.store.crypto import TemplateKeyError

    service(settings, store, ScriptedBoard()).register(face(1), consent=True, model_version=MODEL)
    settings.privacy.template_key_file.write_bytes(b"x" * 32)
    with pytest.raises(TemplateKeyError, match="cannot be decrypted"):
        start_store(settings)
    settings.privacy.template_key_file.unlink()
    with pytest.raises(TemplateKeyError, match="does not exist"):
        start_store(settings)


@pytest.mark.parametrize("enabled", [False, True])
def test_face_images_only_when_staff_enable_them(
    settings: Settings, store: Store, enabled: bool
) -> None:
    svc = service(settings, store, ScriptedBoard(), store_face_images=enabled)
    image = b"\xff\xd8 jpeg bytes of a face"
    reg = svc.register(face(1), consent=True, model_version=MODEL, face_image=image)
    with store.database.transaction() as session:
        rental = rentals.get_rental(session, reg.rental_id or 0)
        assert rental is not None
        kinds = sorted(t.kind for t in rental.templates)
        blobs = [t.ciphertext for t in rental.templates]
    assert kinds == (["embedding"] * 3 + (["image"] if enabled else []))
    assert all(image not in blob for blob in blobs)
    svc.retrieve(face(1), model_version=MODEL)
    with store.database.transaction() as session:
        assert rentals.count_templates(session) == 0


# --------------------------------------------------------------------------- passive PAD


def _verdict(live: bool, attack: str | None = "screen", score: float = 0.21) -> object:
    from lockers.vision.pad import AttackType, PadVerdict

    return PadVerdict(live, score, 0.6, None if attack is None else AttackType(attack), 6)


def _audit_rows(store: Store) -> list[tuple[str, str, float | None, str | None]]:
    with store.database.transaction() as session:
        return [(e.action, e.outcome, e.score, e.reason) for e in audit.entries(session)]


def test_register_refuses_a_presentation_attack_and_stores_nothing(
    settings: Settings, store: Store, board: ScriptedBoard
) -> None:
    svc = service(settings, store, board)
    got = svc.register(face(1), consent=True, model_version=MODEL, pad=_verdict(False))  # type: ignore[arg-type]
    assert got.outcome is RegisterOutcome.PRESENTATION_ATTACK and not got.door_opened
    assert got.rental_id is None and got.detail == "screen"
    assert board.calls == []
    assert set(states(store).values()) == {"available"}
    with store.database.transaction() as session:
        assert rentals.active_templates(session, store.cipher, MODEL) == {}
    [row] = _audit_rows(store)
    assert row[:3] == ("register", "presentation_attack", 0.21)
    assert row[3] is not None and "screen attack" in row[3] and "6 frames" in row[3]
    # A live verdict registers as before.
    ok = svc.register(face(1), consent=True, model_version=MODEL, pad=_verdict(True, None, 0.9))  # type: ignore[arg-type]
    assert ok.outcome is RegisterOutcome.OPENED


def test_retrieve_never_opens_for_an_attack_even_when_the_face_matches(
    settings: Settings, store: Store, board: ScriptedBoard
) -> None:
    svc = service(settings, store, board)
    rented = svc.register(face(3), consent=True, model_version=MODEL)
    pulses = len(board.calls)
    got = svc.retrieve(face(3, k=3), model_version=MODEL, pad=_verdict(False, "print", 0.05))  # type: ignore[arg-type]
    assert got.outcome is RetrieveOutcome.PRESENTATION_ATTACK and got.locker_label is None
    assert len(board.calls) == pulses  # the board was never told
    with store.database.transaction() as session:
        rental = rentals.get_rental(session, rented.rental_id or 0)
        assert rental is not None and rental.state == RentalState.ACTIVE
    action, outcome, score, reason = _audit_rows(store)[-1]
    assert (action, outcome, score) == ("retrieve", "presentation_attack", 0.05)
    assert reason is not None and reason.startswith("print attack")
    # The owner, live, still gets the locker.
    opened = svc.retrieve(face(3, k=3), model_version=MODEL, pad=_verdict(True, None, 0.95))  # type: ignore[arg-type]
    assert opened.outcome is RetrieveOutcome.OPENED


def test_attacks_on_retrieve_count_for_the_back_off(settings: Settings, store: Store) -> None:
    svc = service(settings, store, ScriptedBoard())
    waits = [
        svc.retrieve(face(9), model_version=MODEL, pad=_verdict(False)).retry_after_s  # type: ignore[arg-type]
        for _ in range(4)
    ]
    assert waits[0] == 0 and waits[-1] > 0
    assert svc.retrieve(face(9), model_version=MODEL).outcome is RetrieveOutcome.RATE_LIMITED


def test_passive_check_off_is_audited(settings: Settings, store: Store) -> None:
    service(settings, store, ScriptedBoard()).record_passive_check_off()
    [row] = _audit_rows(store)
    assert row[:2] == ("liveness", "passive_off") and "liveness.passive: off" in (row[3] or "")


def test_an_early_look_opens_only_on_an_accept_and_costs_no_attempt(
    settings: Settings, store: Store
) -> None:
    svc = service(settings, store, ScriptedBoard())
    reg = svc.register(face(1), consent=True, model_version=MODEL)
    stranger = svc.retrieve(face(200, k=2), model_version=MODEL, final=False)
    assert stranger.outcome is RetrieveOutcome.UNDECIDED and stranger.retry_after_s == 0
    # Not a failed attempt: nothing audited, no back-off, the rental untouched.
    assert ("retrieve", "no_match") not in actions(store)
    assert states(store)[reg.locker_label or ""] == "occupied"
    owner = svc.retrieve(face(1, k=2), model_version=MODEL, final=False)
    assert (owner.outcome, owner.locker_label) == (RetrieveOutcome.OPENED, reg.locker_label)


def test_a_stale_in_memory_gallery_never_opens_another_renters_locker(
    settings: Settings, store: Store
) -> None:
    """Whatever the cache holds, the door opens only if the database's templates agree."""
    board = ScriptedBoard()
    svc = service(settings, store, board)
    owner = svc.register(face(1), consent=True, model_version=MODEL)
    assert svc.retrieve(face(2), model_version=MODEL).outcome is RetrieveOutcome.NO_MATCH
    # Make the cache stale on purpose: person 2's templates under person 1's rental id.
    matcher = svc._gallery._matcher
    matcher.remove(owner.rental_id)
    matcher.add_many([owner.rental_id] * 3, face(2, k=3))
    pulses = len(board.calls)
    got = svc.retrieve(face(2, k=3), model_version=MODEL)
    assert got.outcome is RetrieveOutcome.NO_MATCH and len(board.calls) == pulses
    # Nor does a registration by person 2 reopen person 1's locker as a "duplicate".
    # (the cache was rebuilt from the database by now; make it stale again)
    svc._gallery._matcher.remove(owner.rental_id)
    svc._gallery._matcher.add_many([owner.rental_id] * 3, face(2, k=3))
    again = svc.register(face(2), consent=True, model_version=MODEL)
    assert again.outcome is RegisterOutcome.OPENED and again.locker_label != owner.locker_label
    # The owner still gets their locker.
    back = svc.retrieve(face(1, k=3), model_version=MODEL)
    assert (back.outcome, back.locker_label) == (RetrieveOutcome.OPENED, owner.locker_label)


def test_the_retrieve_backoff_comes_from_the_config(tmp_path: Path, store: Store) -> None:
    recognition = {"retry_free_failures": 0, "retry_base_s": 5, "retry_max_s": 7}
    tuned = store_settings(tmp_path, recognition)
    clock = Clock()
    svc = service(tuned, store, ScriptedBoard(), clock=clock)
    svc.register(face(1), consent=True, model_version=MODEL)
    waits = []
    for i in range(3):
        waits.append(svc.retrieve(face(100 + i), model_version=MODEL).retry_after_s)
        clock.now += timedelta(seconds=waits[-1])
    assert waits == [5, 7, 7]  # no free failure, then doubling capped at retry_max_s


def store_settings(tmp_path: Path, recognition: dict[str, float]) -> Settings:
    """The test store's settings with other ``recognition`` values."""
    config = yaml.safe_load((tmp_path / "config.yaml").read_text(encoding="utf-8"))
    config["recognition"] = {**config["recognition"], **recognition}
    tuned = tmp_path / "tuned.yaml"
    tuned.write_text(yaml.safe_dump(config), encoding="utf-8")
    return load_settings(tuned)


def templates_of(store: Store, rental_id: int | None) -> int:
    with store.database.transaction() as session:
        return sum(
            1
            for template in session.scalars(select(FaceTemplate))
            if template.rental_id == rental_id
        )


def test_housekeeping_expires_rentals_on_a_running_kiosk(settings: Settings, store: Store) -> None:
    clock = Clock()
    svc = service(settings, store, ScriptedBoard(), clock=clock)
    assert svc.prepare(MODEL) == 0
    kept = svc.register(face(1), consent=True, model_version=MODEL)
    clock.now += timedelta(hours=1)
    gone = svc.register(face(2), consent=True, model_version=MODEL)
    clock.now += timedelta(hours=1)
    assert svc.prepare(MODEL) == 2  # both in this kiosk's in-memory gallery
    assert svc.housekeeping().idle  # nothing is past retention yet: nothing written
    assert ("housekeeping", "templates_deleted") not in actions(store)

    privacy = settings.privacy
    # Past the first rental's end and retention, not the second's.
    clock.now = (
        clock.now
        - timedelta(hours=2)
        + timedelta(hours=privacy.rental_max_hours + privacy.retention_hours, minutes=30)
    )
    report = svc.housekeeping()
    assert report.expired_rentals == (kept.rental_id,) and report.templates_deleted == 3
    assert templates_of(store, kept.rental_id) == 0  # gone from the database
    assert templates_of(store, gone.rental_id) == 3
    # ... and from the running kiosk's gallery: the expired face no longer opens anything.
    assert svc.retrieve(face(1), model_version=MODEL).outcome is RetrieveOutcome.NO_MATCH
    with store.database.transaction() as session:
        rental = rentals.get_rental(session, kept.rental_id or 0)
        assert rental is not None and rental.state == RentalState.EXPIRED
        assert rental.locker.attention and "expired" in rental.locker.attention
    assert ("expire", "templates_deleted") in actions(store)
    assert ("housekeeping", "templates_deleted") in actions(store)
    assert svc.retrieve(face(2), model_version=MODEL).outcome is RetrieveOutcome.OPENED


def test_the_gallery_drops_what_housekeeping_expired(settings: Settings, store: Store) -> None:
    clock = Clock()
    svc = service(settings, store, ScriptedBoard(), clock=clock)
    reg = svc.register(face(1), consent=True, model_version=MODEL)
    svc.prepare(MODEL)
    assert reg.rental_id in svc._gallery.rental_ids
    later = clock.now + timedelta(hours=settings.privacy.rental_max_hours + 73)
    assert svc.housekeeping(later).expired_rentals == (reg.rental_id,)
    assert reg.rental_id not in svc._gallery.rental_ids


def test_every_audit_entry_is_in_the_contract(settings: Settings, store: Store) -> None:
    clock = Clock()
    svc = service(settings, store, ScriptedBoard([UnlockOutcome.UNCONFIRMED]), clock=clock)
    svc.register(face(1), consent=True, model_version=MODEL)
    svc.register(face(2), consent=True, model_version=MODEL)
    svc.retrieve(face(9), model_version=MODEL)
    svc.retrieve(face(2), model_version=MODEL)
    svc.record_passive_check_off()
    svc.housekeeping(clock.now + timedelta(days=30))
    with store.database.transaction() as session:
        assert consistency.audit_findings(session) == []
        assert len(list(audit.entries(session))) >= 8
