"""Between the customer flow and the threads: frames in, commands out, results back.

:class:`FlowBridge` feeds the camera's analysed frames to the
:class:`~lockers.kiosk.flow.KioskFlow`, runs its commands (embedding in the camera worker's
thread, register and retrieve on the service thread, each tagged with its request id) and hands
each result back to the request that caused it. It tells the camera worker which frames to
analyse and embed, and publishes every new view. Plain Python on the UI thread.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from lockers.kiosk.dto import RegisterResult, RetrieveResult
from lockers.kiosk.flow import (
    Command,
    EmbedRequest,
    FlowView,
    KioskFlow,
    RegisterRequest,
    RetrieveRequest,
)
from lockers.kiosk.flow_values import ANALYSING_PHASES, OPEN_PHASES
from lockers.ui.camera_loop import FramePacket
from lockers.ui.job_dispatch import JobResult
from lockers.ui.ports import KioskBackend, ServiceHealth
from lockers.ui.staff_controller import message_of

FLOW_JOBS = frozenset({"register", "retrieve"})


class FrameControl(Protocol):
    """What the bridge asks of the camera worker (thread-safe there)."""

    def set_analysing(self, on: bool) -> None: ...
    def set_embedding(self, on: bool) -> None: ...
    def embed_faces(self, job: int, faces: npt.NDArray[np.uint8]) -> None: ...


TaggedSubmit = Callable[[str, Callable[[], Any], object], int]


class FlowBridge:
    """Args:
    flow: the state machine.
    camera: the camera worker's controls.
    backend: the services (called through ``submit`` only).
    submit: queues a named call on the service thread with a tag its result carries.
    publish: receives every changed :class:`FlowView`.
    log: one line per thing that happened.
    clock: monotonic seconds (the flow's time).
    model_version: the loaded model's version (asked when a request goes out).
    door_opened: called when an open-door screen starts (to poll the door soon).
    """

    def __init__(
        self,
        flow: KioskFlow,
        camera: FrameControl,
        backend: KioskBackend,
        submit: TaggedSubmit,
        publish: Callable[[FlowView], None],
        log: Callable[[str], None],
        clock: Callable[[], float],
        model_version: Callable[[], str],
        door_opened: Callable[[], None],
    ) -> None:
        self.flow = flow
        self._camera = camera
        self._backend = backend
        self._submit = submit
        self._publish = publish
        self._log = log
        self._clock = clock
        self._model_version = model_version
        self._door_opened = door_opened
        self._last_view: FlowView | None = None
        self.phase_changed_at = clock()

    def apply(self, view: FlowView, command: Command | None = None) -> None:
        """Publish ``view`` (when it changed) and run ``command``."""
        previous, self._last_view = self._last_view, view
        self._camera.set_analysing(view.phase in ANALYSING_PHASES)
        # Frames the decision does not need are only detected and gated, never embedded.
        self._camera.set_embedding(self.flow.wants_embedding(self._clock()))
        if command is not None:
            self._run(command)
        if previous is None or previous.phase is not view.phase:
            self.phase_changed_at = self._clock()
            self._log(f"phase {view.phase.value}" + describe(view))
            if view.phase in OPEN_PHASES:
                self._door_opened()
        if view != previous:
            self._publish(view)

    def _run(self, command: Command) -> None:
        version, backend = self._model_version(), self._backend
        if isinstance(command, EmbedRequest):
            # The model lives in the camera worker's thread, never on the UI thread.
            self._log(f"capture: embedding the {len(command.faces)} best frames")
            self._camera.embed_faces(command.job, command.faces)
        elif isinstance(command, RegisterRequest):
            self._log(f"register: {len(command.templates)} templates")
            templates, qualities, pad = command.templates, command.qualities, command.pad
            self._submit(
                "register",
                lambda: backend.register(templates, qualities, version, pad=pad),
                command.request_id,
            )
        elif isinstance(command, RetrieveRequest):
            final = command.final
            early = "" if final else " (early look)"
            self._log(f"retrieve: {len(command.probes)} frames{early}")
            probes, pad = command.probes, command.pad
            self._submit(
                "retrieve",
                lambda: backend.retrieve(probes, version, pad=pad, final=final),
                command.request_id,
            )

    # -- from the camera worker --------------------------------------------------------------

    def frame(self, packet: FramePacket) -> None:
        if packet.observation is None or self.flow.phase not in ANALYSING_PHASES:
            return
        command = self.flow.frame(packet.observation, self._clock())
        self.apply(self.flow.view, command)

    def faces_embedded(self, job: int, embeddings: npt.NDArray[np.float32]) -> None:
        self.apply(self.flow.view, self.flow.faces_embedded(job, embeddings, self._clock()))

    def embed_failed(self, job: int, message: str) -> None:
        self._log(f"embedding failed: {message}")
        self.apply(self.flow.faces_failed(job, message, self._clock()))

    # -- from the service thread -------------------------------------------------------------

    def on_job(self, result: JobResult) -> None:
        """A register or retrieve result, applied to the request its tag names."""
        now, flow = self._clock(), self.flow
        request_id = result.tag if isinstance(result.tag, int) else None
        if not result.ok:
            self._log(f"{result.kind} failed: {message_of(result.error)}")
            self.apply(flow.service_failed(message_of(result.error), now, request_id))
            return
        value = result.value
        if isinstance(value, RegisterResult):
            self._log(f"register result: {value.outcome.value} locker {value.locker_label}")
            self.apply(flow.register_done(value, now, request_id))
        elif isinstance(value, RetrieveResult):
            score = "" if value.score is None else f" score {value.score:.3f}"
            self._log(f"retrieve result: {value.outcome.value} locker {value.locker_label}{score}")
            self.apply(flow.retrieve_done(value, now, request_id))

    def door_reading(self, health: ServiceHealth, fresh: bool) -> None:
        """The board's door readings; ``fresh``: the poll started after the phase did
        (readings from before the door was opened say nothing about it)."""
        view = self.flow.view
        label = view.locker_label
        # Open phases start only after the board saw this door open, so "closed" now means the
        # customer shut it (a poll may well miss the moment it stood open).
        if fresh and view.phase in OPEN_PHASES and label and health.doors.get(label) == "closed":
            self._log(f"door {label} closed")
            self.apply(self.flow.door_closed(label, self._clock()))


def describe(view: FlowView) -> str:
    parts = []
    if view.locker_label:
        parts.append(f"locker {view.locker_label}")
    if view.problem is not None:
        parts.append(f"problem {view.problem.value}")
    if view.detail:
        parts.append(view.detail)
    return (": " + ", ".join(parts)) if parts else ""
