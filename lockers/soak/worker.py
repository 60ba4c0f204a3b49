"""One kiosk as the harness runs it: the real start-up check, services, flow and board driver.

:class:`KioskWorker` executes :class:`~lockers.soak.ops.Op` s: register and retrieve go through
the real :class:`~lockers.kiosk.flow.KioskFlow` (frames in, a service command out) and the real
:class:`~lockers.kiosk.rental_service.RentalService`; staff actions through
:class:`~lockers.kiosk.staff_service.StaffService`; the lock board is the real driver on the
emulator's pty. :func:`serve` runs a worker in its own process, driven over a pipe, where the
harness can SIGKILL it at any moment.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import numpy as np

from lockers.config import Settings, load_settings
from lockers.errors import LockersError, StoreError
from lockers.hardware.board import LockBoard
from lockers.kiosk.dto import StaffActionResult
from lockers.kiosk.flow import (
    FlowSettings,
    FrameObservation,
    KioskFlow,
    RegisterRequest,
    RetrieveRequest,
)
from lockers.kiosk.presence import identity_of
from lockers.kiosk.rental_service import RentalService
from lockers.kiosk.staff_service import StaffService, StaffSession
from lockers.kiosk.startup import Store, start_store
from lockers.soak.agent import SoakSiteAgent
from lockers.soak.ops import Op, OpKind, OpReport, StartupSummary
from lockers.soak.people import People

MODEL_VERSION = "soak-synthetic@1"
STAFF_NAME, STAFF_PIN = "soak-staff", "424242"
EPOCH = datetime(2030, 1, 1, tzinfo=UTC)  # the fake clock's zero
# How long staff here wait for a command's result from another kiosk: past it the op answers
# "pending" (the command may still run, or expire, later).
REMOTE_WAIT_S = 1.0
# A remote open that reached the board: staff go there, empty the locker, then reset it.
DOOR_REACHED = ("opened", "jammed", "unconfirmed", "no_answer")

ServiceFactory = Callable[..., RentalService]
"""Builds the rental service (tests pass a deliberately broken one); gets
``RentalService.from_settings``' arguments."""


class SoakBug(RuntimeError):
    """The harness asked a kiosk for something impossible (a bug of the soak, not the kiosk's)."""


def sim_time(sim_s: float) -> datetime:
    return EPOCH + timedelta(seconds=sim_s)


class KioskWorker:
    """A started kiosk: store opened (start-up check run), board opened, services built.

    Args:
        config: the kiosk's config file (database, board port, lockers, kiosk id).
        seed: the run's seed (the people's vectors).
        emit: called with ``("step", name, time)`` at every service checkpoint, before the
            step runs on (a killed process has already reported the steps it passed).
        service_factory: builds the rental service (default the real one).
        sim_s: the fake clock at start (the harness's, so a restarted kiosk does not run late).
    """

    def __init__(
        self,
        config: Path,
        seed: int,
        emit: Callable[[tuple[Any, ...]], None] | None = None,
        service_factory: ServiceFactory | None = None,
        sim_s: float = 0.0,
    ) -> None:
        from lockers.hardware.boards import open_board

        self.settings: Settings = load_settings(config, env={})
        self.people = People(seed)
        self._emit = _serialised(emit or (lambda _msg: None))  # the agent's thread emits too
        self._op: Op | None = None
        self._steps: dict[str, float] = {}
        # (fake clock at the anchor, monotonic anchor): one reference, read by two threads
        self._anchor = (sim_s, time.monotonic())
        identity = identity_of(self.settings, version="soak", model_version=MODEL_VERSION)
        store, report = start_store(self.settings, repair=True, identity=identity)
        self.store: Store = store
        self.startup = StartupSummary(
            tuple(f"{f.kind}" for f in report.findings),
            tuple(report.expired_rentals),
            tuple((f.locker_label, f.detail) for f in report.findings),
            identity.instance,
        )
        try:
            self.board: LockBoard = open_board(self.settings.board, self.settings.lockers)
        except BaseException:
            store.close()
            raise
        factory = service_factory or RentalService.from_settings
        self.rental = factory(
            self.settings,
            store.database,
            self.board,
            store.cipher,
            clock=self._clock,
            checkpoint=self._checkpoint,
        )
        self.staff = StaffService(
            store.database,
            self.board,
            kiosk_id=self.settings.database.kiosk_id,
            clock=self._clock,
            checkpoint=self._checkpoint,
            command_ttl_s=self.settings.site.command_ttl_s,
            remote_wait_s=REMOTE_WAIT_S,
        )
        self.agent: SoakSiteAgent | None = None
        if store.presence is not None:
            self.agent = SoakSiteAgent(
                store.database, self.board, store.presence, self._clock, self._emit
            )
        self._flow_settings = _flow_settings(self.settings)

    def start_agent(self) -> None:
        """Heartbeat and execute this bank's site commands from now on (a thread)."""
        if self.agent is not None:
            self.agent.start()

    def emit(self, message: tuple[Any, ...]) -> None:
        self._emit(message)

    def close(self) -> None:
        if self.agent is not None:
            self.agent.close()
        self.board.close()
        self.store.close()

    # -- time and checkpoints ---------------------------------------------------------------

    def _clock(self) -> datetime:
        sim_s, since = self._anchor
        return sim_time(sim_s + (time.monotonic() - since))

    def _checkpoint(self, step: str) -> None:
        now = time.monotonic()
        self._steps[step] = now
        self._emit(("step", step, now))
        if self._op is not None and self._op.die_at == step:
            os.kill(os.getpid(), signal.SIGKILL)

    # -- one operation ----------------------------------------------------------------------

    def run(self, op: Op) -> OpReport:
        """Execute ``op``; a service or board error becomes the report's ``error``."""
        self._op, self._steps = op, {}
        self._anchor = (op.sim_s, time.monotonic())
        if self.agent is not None:
            self.agent.die_at = op.die_at_command
        try:
            report = self._dispatch(op)
        except LockersError as exc:
            kind = "StoreError" if isinstance(exc, StoreError) else type(exc).__name__
            report = OpReport(op.seq, "error", error=exc.message, error_kind=kind)
        finally:
            self._op = None
        report.steps = dict(self._steps)
        report.board_events = [event.kind.value for event in self.board.poll_events()]
        return report

    def _dispatch(self, op: Op) -> OpReport:
        if op.kind is OpKind.REGISTER:
            return self._register(op)
        if op.kind is OpKind.RETRIEVE:
            return self._retrieve(op)
        if op.kind is OpKind.EXPIRE:
            return OpReport(op.seq, "ok", expired=self.rental.expire_overdue())
        if op.kind is OpKind.COMMAND:
            return self._command(op)
        return self._staff(op)

    def _observation(self, vector: np.ndarray, crowded: bool = False) -> FrameObservation:
        return FrameObservation(
            has_face=True,
            crowded=crowded,
            embedding=vector,
            quality_score=0.9,
            yaw_deg=0.0,
            center=(320.0, 240.0),
            width=160.0,
        )

    def _frames(self, flow: KioskFlow, op: Op, count: int) -> RegisterRequest | RetrieveRequest:
        if op.person is None:
            raise SoakBug(f"op {op.seq} ({op.kind.value}) names no person")
        captures = self.people.captures(op.person, count + 1, op.seq, op.noise)
        now = 1.0
        if op.crowded_first:  # a second face: the flow must throw this frame away
            flow.frame(self._observation(captures[-1], crowded=True), now)
        for vector in captures[:count]:
            now += 0.2
            command = flow.frame(self._observation(vector), now)
            if command is not None:
                return command
        raise SoakBug(f"the flow asked for more than {count} frames")

    def _register(self, op: Op) -> OpReport:
        flow = KioskFlow(self._flow_settings)
        flow.start_register(0.0)
        flow.consent(True, 0.5)
        request = self._frames(flow, op, self._flow_settings.capture_frames)
        if not isinstance(request, RegisterRequest):
            raise SoakBug(f"the register flow asked for {type(request).__name__}")
        result = self.rental.register(
            request.templates,
            consent=True,
            model_version=MODEL_VERSION,
            quality=request.qualities,
        )
        flow.register_done(result, 5.0)
        return OpReport(op.seq, result.outcome.value, result.locker_label, result.rental_id)

    def _retrieve(self, op: Op) -> OpReport:
        flow = KioskFlow(self._flow_settings)
        flow.start_retrieve(0.0)
        request = self._frames(flow, op, self._flow_settings.retrieve_frames)
        if not isinstance(request, RetrieveRequest):
            raise SoakBug(f"the retrieve flow asked for {type(request).__name__}")
        result = self.rental.retrieve(
            request.probes, model_version=MODEL_VERSION, final=request.final
        )
        flow.retrieve_done(result, 5.0)
        return OpReport(op.seq, result.outcome.value, result.locker_label, result.rental_id)

    def _staff(self, op: Op) -> OpReport:
        if op.label is None:
            raise SoakBug(f"staff op {op.seq} ({op.kind.value}) names no locker")
        who = self.staff.login(STAFF_NAME, STAFF_PIN)
        try:
            if op.kind is OpKind.STAFF_RESET:
                opened = self.staff.force_open(who, op.label, "soak: staff empty the locker")
                self.staff.reset(who, op.label, f"soak: emptied (door {opened.outcome})")
                outcome = "reset"
            elif op.kind is OpKind.STAFF_OUT_OF_SERVICE:
                self.staff.set_out_of_service(who, op.label, "soak: maintenance")
                outcome = "out_of_service"
            else:
                self.staff.back_in_service(who, op.label)
                outcome = "back_in_service"
        finally:
            self.staff.logout(who)
        return OpReport(op.seq, outcome, op.label)

    def _command(self, op: Op) -> OpReport:
        """Staff here act on another bank's locker: the real staff service sends the command
        to the owning kiosk and waits (``REMOTE_WAIT_S``); a reset is an open, then a reset."""
        label, action = op.label, op.action
        if label is None or action is None:
            raise SoakBug(f"command op {op.seq} names no locker or action")
        who = self.staff.login(STAFF_NAME, STAFF_PIN)
        try:
            done = self._remote(who, label, action)
        finally:
            self.staff.logout(who)
        return OpReport(op.seq, done.outcome, label, error=done.detail)

    def _remote(self, who: StaffSession, label: str, action: str) -> StaffActionResult:
        staff = self.staff
        if action == "open":
            return staff.force_open(who, label, "soak: staff look inside")
        if action == "reset":
            opened = staff.force_open(who, label, "soak: staff empty the locker")
            if opened.outcome not in DOOR_REACHED:
                return opened  # not opened (yet): staff come back to it later
            return staff.reset(who, label, f"soak: emptied (door {opened.outcome})")
        if action == "out_of_service":
            return staff.set_out_of_service(who, label, "soak: maintenance")
        return staff.back_in_service(who, label, "soak: repaired")


def _flow_settings(settings: Settings) -> FlowSettings:
    return FlowSettings(
        capture_frames=3,
        capture_min_interval_s=0.0,
        # Enrol the first good frames: which frames are best is the flow's own tests' job;
        # the soak is about the store and the board.
        capture_window_s=0.0,
        liveness=None,  # synthetic people cannot turn their heads; the gate is not soaked
        retrieve_frames=settings.recognition.frames_window,
    )


def _serialised(emit: Callable[[tuple[Any, ...]], None]) -> Callable[[tuple[Any, ...]], None]:
    """``emit`` made safe for two threads (a pipe's messages must not interleave)."""
    lock = threading.Lock()

    def send(message: tuple[Any, ...]) -> None:
        with lock:
            emit(message)

    return send


def serve(conn: Connection, config: str, seed: int, sim_s: float = 0.0) -> None:
    """A kiosk process: start (``("ready", summary)`` or ``("failed", why)``), then run every
    :class:`Op` received until ``None`` or the pipe closes; its site agent's
    :class:`~lockers.soak.ops.CommandEvent` s come as ``("cmd", event)`` meanwhile."""
    # The harness injects the faults and counts them: the kiosk's own warnings about them (a
    # database restarting under its site agent) would only drown the report.
    logging.getLogger("lockers").setLevel(logging.ERROR)
    try:
        worker = KioskWorker(Path(config), seed, emit=conn.send, sim_s=sim_s)
    except LockersError as exc:
        conn.send(("failed", exc.message))
        return
    except Exception as exc:  # a bug: the harness must still learn why this kiosk is not up
        conn.send(("failed", f"{type(exc).__name__}: {exc}"))
        raise
    conn.send(("ready", worker.startup))
    worker.start_agent()
    try:
        while True:
            try:
                op = conn.recv()
            except EOFError:
                break
            if op is None:
                break
            report = worker.run(op)
            worker.emit(("done", report))
    finally:
        worker.close()
