"""``--seed`` replays the same choices, and a violation carries the story of its locker and its
person (so a finding can be diagnosed from ``--json`` alone)."""

from __future__ import annotations

from broken_services import WrongLockerService, factory

from lockers.soak.options import SoakOptions
from lockers.soak.plan import plan_cycle
from lockers.soak.runner import run_soak


def _plans(seed: int, cycles: int = 300) -> list[dict[str, object]]:
    return [
        plan_cycle(
            seed,
            cycle,
            2,
            killable=True,
            sigkill_rate=0.1,
            board_fault_rate=0.1,
            db_fault_rate=0.03,
        ).describe()
        for cycle in range(1, cycles + 1)
    ]


def test_the_same_seed_draws_the_same_faults_cycle_by_cycle() -> None:
    first = _plans(1)
    assert first == _plans(1)
    assert first != _plans(2)
    # Enough happens in 300 cycles to make the comparison mean something.
    assert sum(p["random_kill"] is not None for p in first) > 5
    assert sum(p["db_fault"] for p in first) > 2
    assert sum(f is not None for p in first for f in p["board_faults"]) > 20  # type: ignore[attr-defined]


def _soak(seed: int, **changes: object) -> dict[str, object]:
    options = SoakOptions(
        kiosks=2,
        max_cycles=30,
        max_seconds=60,
        in_process=True,
        sigkill_rate=0.0,
        board_fault_rate=0.0,
        db_fault_rate=0.0,
        seed=seed,
    )
    for name, value in changes.items():
        setattr(options, name, value)
    return run_soak(options).to_dict()


def test_the_same_seed_replays_the_same_ops() -> None:
    first, again, other = _soak(5), _soak(5), _soak(6)
    assert first["choice_digest"] == again["choice_digest"]
    assert first["fault_digest"] == again["fault_digest"]
    assert first["ops"] == again["ops"]
    assert first["choice_digest"] != other["choice_digest"]


def test_a_violation_carries_its_lockers_and_persons_history() -> None:
    figures = _soak(7, max_cycles=40, service_factory=factory(WrongLockerService))
    details = figures["violation_details"]
    assert isinstance(details, list) and details
    wrong = next(d for d in details if d["invariant"] == "wrong_locker_opens")
    assert wrong["locker"] is not None and wrong["person"] is not None
    history = wrong["history"]
    assert history, wrong
    last = history[-1]
    assert last["cycle"] == wrong["cycle"]
    # Each entry says what was asked, the steps reached, what the kiosk answered, which locks
    # fired, and what the database said afterwards.
    assert {"kind", "person", "steps", "answer", "locks_fired", "db_after"} <= set(last)
    about = {wrong["locker"]} | {f["locker"] for e in history for f in e["locks_fired"]}
    assert wrong["locker"] in about
    assert any(e["person"] == wrong["person"] for e in history)
