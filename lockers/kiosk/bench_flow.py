"""User-level figures for ``lockers bench``: time from the first frame showing the face to the
unlock command sent to the board, replaying a video through the real pipeline, the real
:class:`KioskFlow` and the real :class:`RentalService` on a SQLite file holding
``gallery_size`` active rentals (encrypted templates), with the lock-board emulator on a pty.

The clock is the camera's: frame ``i`` arrives at ``i / fps``; analysis, embedding and service
calls take their real time, and a frame that arrived while the kiosk was busy is dropped when
a newer one is there (a live camera delivers the newest frame). Register: face shown → the
capture window closes (reported apart, with liveness: a replayed video cannot turn its head,
so the check is skipped and a live one adds the user's turning time) → the best frames are
embedded → duplicate check among the active rentals, rental written → unlock command.
Retrieve: face shown → scan frames embedded until the flow decides → the service's k-of-n
vote among the active rentals (an early look at k frames; all n when it does not accept) →
unlock command.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from lockers.hardware.board import DoorEvent, DoorState, LockAddress, LockBoard, UnlockResult
from lockers.kiosk.dto import RetrieveOutcome
from lockers.kiosk.flow import (
    Command,
    EmbedRequest,
    FlowSettings,
    FrameObservation,
    KioskFlow,
    RegisterRequest,
    RetrieveRequest,
)
from lockers.kiosk.rental_service import RentalService
from lockers.vision.pipeline import FacePipeline

if TYPE_CHECKING:
    from lockers.config import Settings
    from lockers.kiosk.startup import Store

BENCH_LOCKERS = 4  # the lockers the replayed customer rents (on the emulated board 0)


class TimedBoard(LockBoard):
    """The real board (here the emulator on a pty), noting when each unlock command goes out."""

    def __init__(self, board: LockBoard) -> None:
        self._board = board
        self.sent: list[float] = []  # perf_counter() at each unlock command

    def unlock(self, address: LockAddress) -> UnlockResult:
        self.sent.append(time.perf_counter())
        return self._board.unlock(address)

    def door_states(self) -> dict[LockAddress, DoorState]:
        return self._board.door_states()

    def healthy(self) -> bool:
        return self._board.healthy()

    def poll_events(self) -> list[DoorEvent]:
        return self._board.poll_events()

    def close(self) -> None:
        self._board.close()


@dataclass
class FlowRun:
    """One replay, in camera-clock seconds from the replay's start (``None``: never reached)."""

    first_face_s: float | None = None
    window_closed_s: float | None = None  # register: the capture window closed
    unlock_s: float | None = None  # the unlock command went to the board
    outcome: str | None = None
    frames_analysed: int = 0
    frames_embedded: int = 0
    service_ms: list[float] = field(default_factory=list)

    def ms(self, start: float | None, end: float | None) -> float | None:
        return None if start is None or end is None else (end - start) * 1e3


@dataclass
class Kiosk:
    """The real back half of the kiosk: the service on its store and the timed board."""

    service: RentalService
    board: TimedBoard
    model_version: str
    store: Store

    def active_rentals(self) -> int:
        from lockers.store.models import Rental, RentalState

        with self.store.database.transaction() as session:
            return session.query(Rental).filter(Rental.state == RentalState.ACTIVE).count()


def replay(
    pipeline: FacePipeline,
    frames: list[npt.NDArray[np.uint8]],
    flow: KioskFlow,
    fps: float,
    kiosk: Kiosk,
    start: int = 0,
) -> FlowRun:
    """Feed ``frames[start:]`` to ``flow`` (already in CAPTURE or RETRIEVE_SCAN) in camera time,
    running its commands on the real parts, until the service has answered for good."""
    run = FlowRun()
    busy_until = 0.0
    for i in range(start, len(frames)):
        arrival = (i - start) / fps
        if i + 1 < len(frames) and (i + 1 - start) / fps <= busy_until:
            continue  # a newer frame is already there
        begin = max(arrival, busy_until)
        t0 = time.perf_counter()
        analysis = pipeline.analyse(frames[i], embed=flow.wants_embedding(begin), frame_index=i)
        busy_until = begin + (time.perf_counter() - t0)
        run.frames_analysed += 1
        run.frames_embedded += analysis.embedding is not None
        if analysis.subject is not None and run.first_face_s is None:
            run.first_face_s = arrival
        command = flow.frame(FrameObservation.from_analysis(analysis, i), busy_until)
        while command is not None:
            command, busy_until = _execute(command, pipeline, flow, kiosk, run, busy_until)
        if run.outcome is not None:
            return run
    return run


def _execute(
    command: Command,
    pipeline: FacePipeline,
    flow: KioskFlow,
    kiosk: Kiosk,
    run: FlowRun,
    now: float,
) -> tuple[Command | None, float]:
    """Run one command as the kiosk would (the camera worker embeds, the service thread calls
    the service); returns the flow's next command and the camera-clock time after it."""
    t0 = time.perf_counter()
    if isinstance(command, EmbedRequest):
        run.window_closed_s = now
        embeddings = pipeline.embed_aligned(command.faces)
        run.frames_embedded += len(command.faces)
        now += time.perf_counter() - t0
        return flow.faces_embedded(command.job, embeddings, now), now
    sent_before = len(kiosk.board.sent)
    if isinstance(command, RegisterRequest):
        registered = kiosk.service.register(
            command.templates,
            consent=True,
            model_version=kiosk.model_version,
            quality=command.qualities,
        )
        run.outcome = registered.outcome.value
        now = _served(kiosk, run, t0, sent_before, now)
        flow.register_done(registered, now, request_id=command.request_id)
    elif isinstance(command, RetrieveRequest):
        found = kiosk.service.retrieve(
            command.probes, model_version=kiosk.model_version, final=command.final
        )
        if found.outcome is not RetrieveOutcome.UNDECIDED:
            run.outcome = found.outcome.value
        now = _served(kiosk, run, t0, sent_before, now)
        flow.retrieve_done(found, now, request_id=command.request_id)
    return None, now


def _served(kiosk: Kiosk, run: FlowRun, t0: float, sent_before: int, now: float) -> float:
    """Record a service call that started at ``t0`` (and when it pulsed a lock); returns the
    camera-clock time after it."""
    elapsed = time.perf_counter() - t0
    run.service_ms.append(elapsed * 1e3)
    if len(kiosk.board.sent) > sent_before:
        run.unlock_s = now + (kiosk.board.sent[-1] - t0)
    return now + elapsed


def open_bench_kiosk(
    settings: Settings, data_dir: Path, gallery_size: int, templates_each: int, model_version: str
) -> Kiosk:
    """A fresh SQLite store in ``data_dir`` with ``gallery_size`` active rentals of random
    templates, the board emulator on a pty, and the rental service over both."""
    from lockers.config import LockerConfig
    from lockers.hardware.boards import open_board
    from lockers.kiosk.startup import connect, start_store
    from lockers.store.bulk import seed_active_rentals
    from lockers.store.models import utcnow
    from lockers.store.schema import upgrade

    board_config = settings.board.model_copy(
        update={
            "port": "emulator",
            "pulse_ms": 50,
            "reply_timeout_s": 0.2,
            "detection_window_s": 0.6,
            "emulator_door_close_after_s": 0.3,
        }
    )
    lockers = [LockerConfig(label=f"B{i}", board=0, channel=i) for i in range(1, BENCH_LOCKERS + 1)]
    bench_settings = settings.model_copy(
        update={
            "data_dir": data_dir,
            "database": settings.database.model_copy(update={"url": ""}),
            "board": board_config,
            "lockers": lockers,
            "privacy": settings.privacy.model_copy(
                update={"template_key_file": data_dir / "template.key"}
            ),
        }
    )
    database = connect(bench_settings)
    try:
        upgrade(database)
    finally:
        database.dispose()
    store, _ = start_store(bench_settings)
    rng = np.random.default_rng(2)
    others = rng.standard_normal((gallery_size, templates_each, 512)).astype(np.float32)
    others /= np.linalg.norm(others, axis=2, keepdims=True)
    with store.database.transaction() as session:
        seed_active_rentals(
            session,
            others,
            store.cipher,
            now=utcnow(),
            model_version=model_version,
            kiosk_id=bench_settings.database.kiosk_id,
        )
    board = TimedBoard(open_board(bench_settings.board, bench_settings.lockers))
    service = RentalService.from_settings(bench_settings, store.database, board, store.cipher)
    return Kiosk(service, board, model_version, store)


def warm_gallery(kiosk: Kiosk) -> float:
    """Milliseconds to load the active rentals' templates, as a kiosk does once at start-up."""
    t0 = time.perf_counter()
    kiosk.service.prepare(kiosk.model_version)
    return (time.perf_counter() - t0) * 1e3


def _stats(values: list[float]) -> dict[str, float | int | None]:
    if not values:
        return {"p50": None, "p95": None, "n": 0}
    arr = np.asarray(values)
    return {
        "p50": round(float(np.percentile(arr, 50)), 1),
        "p95": round(float(np.percentile(arr, 95)), 1),
        "n": len(values),
    }


@dataclass
class _Tally:
    """The figures of :func:`bench_flow`'s runs, per flow."""

    figures: dict[str, list[float]] = field(
        default_factory=lambda: {
            "register_capture_window": [],
            "register_window_to_unlock": [],
            "retrieve_face_to_unlock": [],
        }
    )
    outcomes: dict[str, list[str | None]] = field(
        default_factory=lambda: {"register": [], "retrieve": []}
    )
    embedded: dict[str, list[int]] = field(default_factory=lambda: {"register": [], "retrieve": []})
    service_ms: dict[str, list[float]] = field(
        default_factory=lambda: {"register": [], "retrieve": []}
    )

    def _add(self, name: str, run: FlowRun) -> None:
        self.outcomes[name].append(run.outcome)
        self.embedded[name].append(run.frames_embedded)
        self.service_ms[name] += run.service_ms

    def add_register(self, run: FlowRun) -> bool:
        """Count a register run; ``False`` when it never reached an unlock (no retrieve then)."""
        self._add("register", run)
        window = run.ms(run.first_face_s, run.window_closed_s)
        to_unlock = run.ms(run.window_closed_s, run.unlock_s)
        if window is None or to_unlock is None:
            return False
        self.figures["register_capture_window"].append(window)
        self.figures["register_window_to_unlock"].append(to_unlock)
        return True

    def add_retrieve(self, run: FlowRun) -> None:
        self._add("retrieve", run)
        face_to_unlock = run.ms(run.first_face_s, run.unlock_s)
        if face_to_unlock is not None:
            self.figures["retrieve_face_to_unlock"].append(face_to_unlock)


def bench_flow(
    pipeline: FacePipeline,
    frames: list[npt.NDArray[np.uint8]],
    kiosk: Kiosk,
    *,
    fps: float,
    k: int,
    n: int,
    repeats: int = 5,
) -> dict[str, Any]:
    """Register then retrieve, ``repeats`` times from different start frames; p50/p95 of each
    figure, null (never NaN) when the video never gave the flow what it needs."""
    settings = FlowSettings(liveness=None, retrieve_frames=n, retrieve_agree_frames=k)
    tally = _Tally()
    step = max(1, len(frames) // (repeats + 1))
    for r in range(repeats):
        start = r * step
        pipeline.tracker.reset()
        flow = KioskFlow(settings)
        flow.start_register(0.0)
        flow.consent(True, 0.0)
        if not tally.add_register(replay(pipeline, frames, flow, fps, kiosk, start)):
            continue
        pipeline.tracker.reset()
        flow = KioskFlow(settings)
        flow.start_retrieve(0.0)
        tally.add_retrieve(replay(pipeline, frames, flow, fps, kiosk, start))
        time.sleep(0.35)  # the emulated door closes by itself before the next customer
    figures = tally.figures
    return {
        "fps": fps,
        "gallery_active_rentals": kiosk.active_rentals(),
        "retrieve_face_to_unlock_ms": _stats(figures["retrieve_face_to_unlock"]),
        "register_window_to_unlock_ms": _stats(figures["register_window_to_unlock"]),
        "register_capture_window_ms": _stats(figures["register_capture_window"]),
        "register_excluded": "the capture window (reported apart) and liveness (the user's "
        "turns; skipped for a replayed video)",
        "service_call_ms": {name: _stats(values) for name, values in tally.service_ms.items()},
        "outcomes": tally.outcomes,
        "frames_embedded_register": tally.embedded["register"],
        "frames_embedded_retrieve": tally.embedded["retrieve"],
    }


def run_flow_bench(
    settings: Settings,
    source: Path,
    fps: float,
    frames: int = 90,
    *,
    gallery_size: int = 10_000,
    repeats: int = 5,
) -> dict[str, Any]:
    """:func:`bench_flow` on ``source`` with the configured pipeline (random weights when none
    are installed: the timings are the same) and a fresh store of ``gallery_size`` rentals."""
    from lockers.vision.bench import read_frames
    from lockers.vision.embedder import load_embedder

    recognition = settings.recognition.model_copy(update={"allow_untrained": True})
    embedder = load_embedder(recognition)
    pipeline = FacePipeline.from_settings(settings, embedder)
    images, _, _ = read_frames(source, frames)
    model_version = str(getattr(embedder, "model_version", "bench"))
    templates_each = FlowSettings().capture_frames
    with tempfile.TemporaryDirectory(prefix="lockers-bench-") as tmp:
        t0 = time.perf_counter()
        kiosk = open_bench_kiosk(settings, Path(tmp), gallery_size, templates_each, model_version)
        seed_s = time.perf_counter() - t0
        try:
            load_ms = warm_gallery(kiosk)
            result = bench_flow(
                pipeline,
                images,
                kiosk,
                fps=fps,
                k=settings.recognition.frames_to_agree,
                n=settings.recognition.frames_window,
                repeats=repeats,
            )
        finally:
            kiosk.board.close()
            kiosk.store.close()
    result["gallery_load_at_startup_ms"] = round(load_ms, 1)
    result["store"] = (
        f"SQLite file, {gallery_size} active rentals x {templates_each} encrypted templates "
        f"(seeded in {seed_s:.1f} s), board emulator on a pty"
    )
    return result
