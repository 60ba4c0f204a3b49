"""Retrieve at kiosk 1 of a bench site whose active rentals are spread over every bank.

The same simulated person as the single kiosk's bench (:mod:`lockers.kiosk.bench_person`: a
face that follows the screen, synthetic embeddings as there, a confident passive score) goes
through the real :class:`~lockers.kiosk.flow.KioskFlow` and the real
:class:`~lockers.kiosk.rental_service.RentalService` of kiosk 1, matching against every active
rental of the site. Two renters:

- ``own_bank``: registered at kiosk 1 (a locker of its bank, on its emulated board); the
  decision is the unlock command going to kiosk 1's board.
- ``other_bank``: their rental is in kiosk 2's bank; the decision is the service's
  ``at_other_kiosk`` answer (nothing opens, the rental stays active).

Face → decision is camera time from the face shown (t = 0, frames at the camera's rate) to the
decision; service calls take their real time. Detection and embedding are not in it (the video
replay of ``lockers bench`` measures them per frame).
"""

from __future__ import annotations

import random
import time
from typing import Any

import numpy as np
import numpy.typing as npt

from lockers.errors import LockersError
from lockers.kiosk.bench_flow import Kiosk
from lockers.kiosk.bench_person import SCORES, HumanTiming, SimulatedPerson, live_through
from lockers.kiosk.dto import RetrieveOutcome
from lockers.kiosk.flow import FlowSettings, KioskFlow, Phase, RetrieveRequest
from lockers.store.bulk import seed_active_rentals
from lockers.store.models import utcnow

DOOR_CLOSES_S = 0.7  # the emulated person closes an opened door after 0.6 s
SEED_CHUNK = 2_000  # rentals per INSERT batch (PostgreSQL's parameter limit, memory)
_GONE = (Phase.FAILED, Phase.NOT_RECOGNISED, Phase.HOME)


class SiteBenchError(LockersError):
    """The bench site did not behave as a site must (a finding, not a slow figure)."""


def figures(values: list[float]) -> dict[str, float | int | None]:
    """p50 / p95 / max in ms (null, never NaN, without samples)."""
    if not values:
        return {"p50": None, "p95": None, "max": None, "n": 0}
    arr = np.asarray(values)
    return {
        "p50": round(float(np.percentile(arr, 50)), 1),
        "p95": round(float(np.percentile(arr, 95)), 1),
        "max": round(float(arr.max()), 1),
        "n": len(values),
    }


def random_faces(count: int, templates_each: int, seed: int) -> npt.NDArray[np.float32]:
    faces = np.random.default_rng(seed).standard_normal((count, templates_each, 512))
    faces = faces.astype(np.float32)
    faces /= np.linalg.norm(faces, axis=2, keepdims=True)
    return faces


def seed_site(
    kiosk: Kiosk, kiosk_ids: list[str], prefixes: list[str], rentals: int, templates_each: int
) -> float:
    """``rentals`` active rentals of random faces, spread evenly over the banks; seconds."""
    t0 = time.perf_counter()
    banks = len(kiosk_ids)
    share = [rentals // banks + (i < rentals % banks) for i in range(banks)]
    for i, (owner, prefix) in enumerate(zip(kiosk_ids, prefixes, strict=True)):
        for start in range(0, share[i], SEED_CHUNK):
            count = min(SEED_CHUNK, share[i] - start)
            faces = random_faces(count, templates_each, seed=1000 * i + start)
            with kiosk.store.database.transaction() as session:
                seed_active_rentals(
                    session,
                    faces,
                    kiosk.store.cipher,
                    now=utcnow(),
                    model_version=kiosk.model_version,
                    kiosk_id=owner,
                    first_board=1000 + start // 100,
                    label_prefix=f"{prefix}s{start // SEED_CHUNK}-",
                )
    return time.perf_counter() - t0


def _person_face(seed: int) -> npt.NDArray[np.float32]:
    face = np.random.default_rng(seed).standard_normal(512).astype(np.float32)
    return (face / np.linalg.norm(face)).astype(np.float32)


def _decide(
    flow: KioskFlow, person: SimulatedPerson, kiosk: Kiosk, limit_s: float = 20.0
) -> tuple[float | None, str | None, float | None]:
    """Feed the person's frames from t = 0 until the service decides; returns (camera seconds
    to the decision, its outcome, ms from the deciding service call to its decision)."""
    t, step = 0.0, 1.0 / person.timing.fps
    while t < limit_s and flow.phase not in _GONE:
        t += step
        person.see(flow.view, t)
        observation = person.frame(t, embed=flow.wants_embedding(t))
        command = flow.frame(observation, t) or flow.take_command()
        if isinstance(command, RetrieveRequest):
            sent_before, t0 = len(kiosk.board.sent), time.perf_counter()
            result = kiosk.service.retrieve(
                command.probes,
                model_version=kiosk.model_version,
                pad=command.pad,
                final=command.final,
                challenge=command.challenge,
            )
            elapsed = time.perf_counter() - t0
            if len(kiosk.board.sent) > sent_before:  # the unlock command went out: decided
                to_unlock = kiosk.board.sent[-1] - t0  # the call then waits for the door
                return t + to_unlock, result.outcome.value, to_unlock * 1e3
            if result.outcome not in (
                RetrieveOutcome.UNDECIDED,
                RetrieveOutcome.CHALLENGE_REQUIRED,
            ):
                return t + elapsed, result.outcome.value, elapsed * 1e3
            t += elapsed
            flow.retrieve_done(result, t, request_id=command.request_id)
        elif command is not None:
            raise SiteBenchError(f"a retrieve asked for {type(command).__name__}")
        flow.tick(t)
    return None, None, None


def _seed_elsewhere(
    kiosk: Kiosk, owner: str, prefix: str, faces: list[npt.NDArray[np.float32]]
) -> None:
    """Rentals of ``faces`` (a few noisy templates each, as a register keeps) in ``owner``'s
    bank."""
    rng = np.random.default_rng(5)
    templates = np.stack([face + rng.normal(0.0, 0.02, (3, 512)) for face in faces])
    templates = templates.astype(np.float32)
    templates /= np.linalg.norm(templates, axis=2, keepdims=True)
    with kiosk.store.database.transaction() as session:
        seed_active_rentals(
            session,
            templates,
            kiosk.store.cipher,
            now=utcnow(),
            model_version=kiosk.model_version,
            kiosk_id=owner,
            first_board=900,
            label_prefix=f"{prefix}p",
        )


def bench_site_retrieves(
    kiosk: Kiosk, settings: FlowSettings, other: tuple[str, str], repeats: int
) -> dict[str, Any]:
    """``repeats`` retrieves at kiosk 1 by a renter of its own bank (registered there first,
    through the real register) and by one of kiosk ``other = (id, label prefix)``'s bank."""
    timing = HumanTiming()
    real = SCORES["confident"]
    elsewhere = [_person_face(7000 + r) for r in range(repeats)]
    _seed_elsewhere(kiosk, other[0], other[1], elsewhere)
    t0 = time.perf_counter()
    kiosk.service.prepare(kiosk.model_version)  # as a kiosk loads the gallery at start-up
    load_ms = (time.perf_counter() - t0) * 1e3
    samples: dict[str, dict[str, list[Any]]] = {
        name: {"ms": [], "service_ms": [], "outcomes": []} for name in ("own_bank", "other_bank")
    }

    def note(name: str, decided: tuple[float | None, str | None, float | None]) -> None:
        seconds, outcome, service_ms = decided
        samples[name]["outcomes"].append(outcome)
        if seconds is not None and service_ms is not None:
            samples[name]["ms"].append(seconds * 1e3)
            samples[name]["service_ms"].append(service_ms)

    for r in range(repeats):
        face, seed = _person_face(6000 + r), 6000 + r
        flow = KioskFlow(settings, rng=random.Random(seed))
        flow.start_register(0.0)
        flow.consent(True, 0.0)
        live_through(flow, SimulatedPerson(face, real, timing, seed), kiosk)
        time.sleep(DOOR_CLOSES_S)  # the emulated person closes the door before retrieving
        flow = KioskFlow(settings, rng=random.Random(seed + 1))
        flow.start_retrieve(0.0)
        note("own_bank", _decide(flow, SimulatedPerson(face, real, timing, seed + 1), kiosk))
        time.sleep(DOOR_CLOSES_S)
        flow = KioskFlow(settings, rng=random.Random(seed + 2))
        flow.start_retrieve(0.0)
        person = SimulatedPerson(elsewhere[r], real, timing, seed + 2)
        note("other_bank", _decide(flow, person, kiosk))
    return {
        "gallery_load_at_startup_ms": round(load_ms, 1),
        **{
            name: {
                "face_to_decision_ms": figures(values["ms"]),
                "service_call_to_decision_ms": figures(values["service_ms"]),
                "outcomes": values["outcomes"],
            }
            for name, values in samples.items()
        },
    }
