"""Shared set-up of the kiosk flow's tests: a stepping clock, the flow settings the tests start
from, and a good frame of a synthetic person."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from lockers.kiosk.flow import FlowSettings, FrameObservation, KioskFlow


def vector(seed: int) -> npt.NDArray[np.float32]:
    v = np.random.default_rng(seed).standard_normal(512).astype(np.float32)
    return v / np.linalg.norm(v)


PERSON_A, PERSON_B = vector(1), vector(2)


def good(embedding: npt.NDArray[np.float32] = PERSON_A, yaw: float = 0.0) -> FrameObservation:
    return FrameObservation(
        has_face=True,
        crowded=False,
        embedding=embedding,
        quality_score=0.8,
        yaw_deg=yaw,
        center=(320.0, 240.0),
        width=160.0,
    )


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self, dt: float = 0.2) -> float:
        self.t += dt
        return self.t


def settings(**changes: object) -> FlowSettings:
    values: dict[str, object] = {
        "capture_frames": 3,
        "retrieve_frames": 3,
        "liveness": None,
        "idle_timeout_s": 30.0,
        "capture_window_s": 0.0,  # the first good frames close the window (as before)
    }
    values.update(changes)
    return FlowSettings(**values)  # type: ignore[arg-type]


def capture(flow: KioskFlow, clock: Clock, obs: FrameObservation, count: int) -> object:
    command = None
    for _ in range(count):
        command = flow.frame(obs, clock()) or command
    return command
