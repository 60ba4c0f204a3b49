"""User-level figures for ``lockers bench``: time from the first frame showing the face to the
decision, replaying a video through the real pipeline and the real :class:`KioskFlow`.

The clock is the camera's: frame ``i`` arrives at ``i / fps``; a frame that arrives while the
previous one is still being analysed waits (a live camera would drop it, so this is the slower
case). Register: the capture window (the flow's frames until it asks to register), liveness
skipped (a replayed video cannot turn its head; a live check adds the user's own turning time,
reported apart as excluded). Retrieve: the scan until the flow has decided which frames go to
the service, then the service's k-of-n vote among ``gallery_size`` active templates (the
enrolled face among random others), as :meth:`RentalService.retrieve` runs it. The database
transaction and the board command that follow are not part of this figure.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from lockers.kiosk.flow import (
    FlowSettings,
    FrameObservation,
    KioskFlow,
    RegisterRequest,
    RetrieveRequest,
)
from lockers.vision.matcher import FaceMatcher, KOfNVoter
from lockers.vision.pipeline import FacePipeline

if TYPE_CHECKING:
    from lockers.config import Settings


@dataclass(frozen=True)
class FlowRun:
    """One replay: milliseconds from the first face frame to the request, frames analysed and
    frames embedded."""

    face_to_request_ms: float | None
    frames_analysed: int
    frames_embedded: int
    request: RegisterRequest | RetrieveRequest | None


def replay(
    pipeline: FacePipeline,
    frames: list[npt.NDArray[np.uint8]],
    flow: KioskFlow,
    fps: float,
    start: int = 0,
) -> FlowRun:
    """Feed ``frames[start:]`` to ``flow`` (already in CAPTURE or RETRIEVE_SCAN) in camera time
    until it returns a request."""
    busy_until = 0.0
    first_face: float | None = None
    embedded = analysed = 0
    for i in range(start, len(frames)):
        arrival = (i - start) / fps
        begin = max(arrival, busy_until)
        t0 = time.perf_counter()
        want = flow.wants_embedding(begin)
        analysis = pipeline.analyse(frames[i], embed=want, frame_index=i)
        embedded += analysis.embedding is not None
        analysed += 1
        busy_until = begin + (time.perf_counter() - t0)
        if analysis.subject is not None and first_face is None:
            first_face = arrival
        command = flow.frame(FrameObservation.from_analysis(analysis, i), busy_until)
        if command is not None:
            elapsed = None if first_face is None else (busy_until - first_face) * 1e3
            return FlowRun(elapsed, analysed, embedded, command)
    return FlowRun(None, analysed, embedded, None)


def _vote_ms(matcher: FaceMatcher, probes: npt.NDArray[np.float32], k: int, n: int) -> float:
    t0 = time.perf_counter()
    voter = KOfNVoter(k, n)
    for row in probes:
        if voter.feed(matcher.identify(row)) is not None:
            break
    return (time.perf_counter() - t0) * 1e3


def bench_flow(
    pipeline: FacePipeline,
    frames: list[npt.NDArray[np.uint8]],
    *,
    fps: float,
    k: int,
    n: int,
    gallery_size: int = 10_000,
    repeats: int = 5,
) -> dict[str, Any]:
    """Face shown → register request and face shown → retrieve decision, p50/p95 over
    ``repeats`` replays starting at different frames; null figures (never NaN) when the video
    never gave the flow what it needs."""
    settings = FlowSettings(liveness=None, retrieve_frames=n, retrieve_agree_frames=k)
    rng = np.random.default_rng(2)
    matcher = FaceMatcher(threshold=0.55, margin=0.08, dim=512)
    others = rng.standard_normal((gallery_size, 512)).astype(np.float32)
    matcher.add_many(range(gallery_size), others)
    register_ms: list[float] = []
    retrieve_ms: list[float] = []
    embedded: dict[str, list[int]] = {"register": [], "retrieve": []}
    step = max(1, len(frames) // (repeats + 1))
    for r in range(repeats):
        start = r * step
        pipeline.tracker.reset()
        flow = KioskFlow(settings)
        flow.start_register(0.0)
        flow.consent(True, 0.0)
        run = replay(pipeline, frames, flow, fps, start)
        if not isinstance(run.request, RegisterRequest) or run.face_to_request_ms is None:
            continue
        register_ms.append(run.face_to_request_ms)
        embedded["register"].append(run.frames_embedded)
        pipeline.tracker.reset()
        flow = KioskFlow(settings)
        flow.start_retrieve(0.0)
        scan = replay(pipeline, frames, flow, fps, start)
        if not isinstance(scan.request, RetrieveRequest) or scan.face_to_request_ms is None:
            continue
        matcher.add("enrolled", run.request.templates)
        vote = _vote_ms(matcher, scan.request.probes, k, n)
        matcher.remove("enrolled")
        retrieve_ms.append(scan.face_to_request_ms + vote)
        embedded["retrieve"].append(scan.frames_embedded)

    def stats(values: list[float]) -> dict[str, float | None]:
        if not values:
            return {"p50": None, "p95": None, "n": 0}
        arr = np.asarray(values)
        return {
            "p50": round(float(np.percentile(arr, 50)), 1),
            "p95": round(float(np.percentile(arr, 95)), 1),
            "n": len(values),
        }

    return {
        "fps": fps,
        "register_face_to_request_ms": stats(register_ms),
        "register_excluded": "capture window only; liveness (the user's turns) not included",
        "retrieve_face_to_decision_ms": stats(retrieve_ms),
        "retrieve_gallery": gallery_size,
        "frames_embedded_register": embedded["register"],
        "frames_embedded_retrieve": embedded["retrieve"],
        "not_included": "the database transaction and the board's unlock command",
    }


def run_flow_bench(
    settings: Settings, source: Path, fps: float, frames: int = 90
) -> dict[str, Any]:
    """:func:`bench_flow` on ``source`` with the configured pipeline (random weights when none
    are installed: the timings are the same)."""
    from lockers.vision.bench import read_frames
    from lockers.vision.embedder import load_embedder

    recognition = settings.recognition.model_copy(update={"allow_untrained": True})
    pipeline = FacePipeline.from_settings(settings, load_embedder(recognition))
    images, _, _ = read_frames(source, frames)
    return bench_flow(
        pipeline,
        images,
        fps=fps,
        k=settings.recognition.frames_to_agree,
        n=settings.recognition.frames_window,
    )
