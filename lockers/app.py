"""Composition root: builds the kiosk's parts from settings (real or demo).

Collaborators are created here and passed in; nothing below this module constructs its own
dependencies or reads the config file. :func:`build_kiosk` wires the store, the services, the
lock board (a real port or the emulator on a pty), the camera (a device or a replayed video)
and a deferred face pipeline (loaded by the camera worker, off the UI thread);
:func:`run_kiosk` puts them on screen.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lockers.config import Settings
from lockers.errors import LockersError, WeightsError

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from lockers.hardware.board import LockBoard
    from lockers.hardware.emulator import BoardEmulator
    from lockers.kiosk.dto import (
        LockerView,
        RegisterResult,
        RetrieveResult,
        StaffActionResult,
        StaffEntry,
        StaffSession,
    )
    from lockers.kiosk.flow import FlowSettings
    from lockers.kiosk.rental_service import RentalService
    from lockers.kiosk.staff_service import StaffService
    from lockers.kiosk.startup import Store
    from lockers.ui.ports import AuditRow, ServiceHealth
    from lockers.vision.antispoof import PresentationAttackDetector
    from lockers.vision.camera import FrameSource
    from lockers.vision.embedder import Embedder
    from lockers.vision.pad import PadVerdict
    from lockers.vision.pipeline import FacePipeline

log = logging.getLogger(__name__)

SAMPLE_VIDEO = Path(__file__).resolve().parent / "demo" / "sample_faces.mp4"
# The demo's lockers sit on board 0, the address a kerong board (the default protocol) expects.
# Other protocols expect other addresses (lcus 0 only; modbus 1-247, Waveshare default 1;
# kerong 0-15; xor 1-31): DEMO_BOARD_ADDRESS moves them for modbus and xor.
DEMO_BOARD_ADDRESS = {"lcus": 0, "modbus": 1, "kerong": 0, "xor": 1}
DEMO_LOCKERS = [
    {"label": str(i), "size": "S" if i <= 4 else "M" if i <= 10 else "L", "board": 0, "channel": i}
    for i in range(1, 13)
]


def build_pipeline(
    settings: Settings,
    *,
    embed: bool = True,
    allow_untrained: bool = False,
    embedder: Embedder | None = None,
    passive: bool = False,
    pad: PresentationAttackDetector | None = None,
) -> FacePipeline:
    """The face pipeline of ``settings``, with the configured embedder when ``embed`` is set.

    ``allow_untrained`` is the development flag: random weights, loudly labelled. ``embedder``
    replaces the configured one (tests pass a double at the model boundary). ``passive`` adds
    the anti-spoofing models of ``settings.liveness`` (``pad`` replaces them: a test double).

    Raises:
        WeightsError: ``embed`` is set and the weights are missing or invalid, or ``passive``
            is set and the anti-spoofing weights are.
    """
    from lockers.vision.embedder import load_embedder
    from lockers.vision.pipeline import FacePipeline

    if embed and embedder is None:
        recognition = settings.recognition
        if allow_untrained:
            recognition = recognition.model_copy(update={"allow_untrained": True})
        embedder = load_embedder(recognition)
    pipeline = FacePipeline.from_settings(settings, embedder if embed else None)
    if passive:
        if pad is None:
            from lockers.vision.antispoof import load_anti_spoof

            pad = load_anti_spoof(settings.liveness)
        pipeline.pad = pad
    return pipeline


def weights_ready(settings: Settings) -> bool:
    """Whether verified weights are recorded for ``recognition.weights`` (cheap: no hashing)."""
    from lockers.vision.modelstore import read_manifest

    path = settings.recognition.weights
    return path.is_file() and path.name in read_manifest(path.parent)


def require_trained_weights(settings: Settings) -> None:
    """The real kiosk's start-up rule: verified weights, never the development flag.

    Raises:
        WeightsError: ``recognition.allow_untrained`` is set, or no verified weights exist.
    """
    if settings.recognition.allow_untrained:
        raise WeightsError(
            "recognition.allow_untrained is set: the kiosk never runs on untrained weights",
            hint="remove allow_untrained from config.yaml (and LOCKERS_RECOGNITION__"
            "ALLOW_UNTRAINED from the environment); to try the kiosk without weights run "
            "`lockers demo`",
        )
    if not weights_ready(settings):
        raise WeightsError(
            f"no verified embedding weights at {settings.recognition.weights}",
            hint="run `lockers models download` (or `lockers models import FILE` offline), "
            "then start the kiosk again",
        )


def anti_spoof_problems(settings: Settings) -> list[str]:
    """What keeps the passive anti-spoofing check from running (cheap: no hashing); empty when
    every configured model file is present and verified."""
    from lockers.vision.modelstore.antispoof import verified_files

    return verified_files(settings.liveness)


def require_anti_spoof(settings: Settings) -> None:
    """The real kiosk's second start-up rule: verified anti-spoofing weights, unless staff
    turned the passive check off explicitly (``liveness.passive: off``).

    Raises:
        WeightsError: the check is on and a model file is missing or unverified.
    """
    if settings.liveness.passive == "off":
        return
    problems = anti_spoof_problems(settings)
    if problems:
        raise WeightsError(
            "the passive anti-spoofing check is on (liveness.passive) but its weights are not "
            "ready: " + "; ".join(problems),
            hint="run `lockers models download --anti-spoof` (offline: copy the files over and "
            "run `lockers models import --anti-spoof FILE`); to run without the check, set "
            "liveness.passive: off in config.yaml (the screen and the audit log then say so)",
        )


def demo_settings(
    settings: Settings, data_dir: Path | None = None, *, sample_video: bool = False
) -> Settings:
    """``settings`` adjusted for the demo: emulated board, a default set of 12 lockers when none
    are configured, the shipped sample video when the configured camera is not present (or
    always, with ``sample_video``: the scripted demo needs a predictable camera), and the
    database and key inside ``data_dir`` (default ``settings.data_dir``)."""
    data = data_dir.resolve() if data_dir is not None else settings.data_dir
    update: dict[str, Any] = {
        "data_dir": data,
        "board": settings.board.model_copy(update={"port": "emulator"}),
        "privacy": settings.privacy.model_copy(update={"template_key_file": data / "template.key"}),
    }
    if not settings.lockers:
        from lockers.config import LockerConfig

        address = DEMO_BOARD_ADDRESS.get(settings.board.protocol, 0)
        update["lockers"] = [
            LockerConfig(**{**locker, "board": address})  # type: ignore[arg-type]
            for locker in DEMO_LOCKERS
        ]
    if sample_video or not camera_present(settings.camera.source):
        update["camera"] = settings.camera.model_copy(
            update={"source": str(SAMPLE_VIDEO), "fps": 10.0, "loop": True}
        )
    if settings.database.url:
        update["database"] = settings.database.model_copy(update={"url": ""})
    return settings.model_copy(update=update)


def camera_present(source: str) -> bool:
    """Whether ``camera.source`` names something that exists here: a device node, a file or
    folder, or a network URL (which cannot be checked without connecting)."""
    source = source.strip()
    if "://" in source:
        return True
    if source.isdigit():
        return Path(f"/dev/video{source}").exists()
    return Path(source).expanduser().exists()


def is_replay(source: str) -> bool:
    """A video file or folder of images rather than a live camera."""
    source = source.strip()
    return not ("://" in source or source.isdigit() or source.startswith("/dev/"))


class ServicesBackend:
    """:class:`lockers.ui.ports.KioskBackend` over the kiosk services, the store and the board.

    Called from one thread (the controller's service thread).
    """

    def __init__(
        self,
        store: Store,
        board: LockBoard,
        rental: RentalService,
        staff: StaffService,
        *,
        closers: list[Callable[[], None]] | None = None,
    ) -> None:
        self.store = store
        self.board = board
        self.rental = rental
        self.staff = staff
        self._closers = closers or []
        self._closed = False

    def register(
        self,
        templates: npt.NDArray[np.float32],
        qualities: npt.NDArray[np.float32],
        model_version: str,
        pad: PadVerdict | None = None,
    ) -> RegisterResult:
        return self.rental.register(
            templates, consent=True, model_version=model_version, quality=qualities, pad=pad
        )

    def retrieve(
        self,
        probes: npt.NDArray[np.float32],
        model_version: str,
        pad: PadVerdict | None = None,
        final: bool = True,
    ) -> RetrieveResult:
        return self.rental.retrieve(probes, model_version=model_version, pad=pad, final=final)

    def prepare(self, model_version: str) -> int:
        return self.rental.prepare(model_version)

    def health(self) -> ServiceHealth:
        from lockers.hardware.board import DoorState, LockAddress
        from lockers.kiosk.staff_service import list_lockers
        from lockers.store.models import utcnow
        from lockers.ui.ports import ServiceHealth

        views = list_lockers(self.store.database, utcnow())
        try:
            states = self.board.door_states()
            events = self.board.poll_events()
            board_ok = self.board.healthy()
            detail = "" if board_ok else "the lock board does not answer"
        except LockersError as exc:
            states, events, board_ok, detail = {}, [], False, exc.message
        doors = {
            v.label: states.get(LockAddress(v.board, v.channel), DoorState.UNKNOWN).value
            for v in views
        }
        alerts = [f"{e.kind.value} board {e.address.board} ch {e.address.channel}" for e in events]
        alerts += [f"locker {v.label}: {v.attention}" for v in views if v.attention]
        return ServiceHealth(
            board_ok=board_ok,
            free_lockers=sum(v.status == "available" for v in views),
            total_lockers=len(views),
            doors=doors,
            alerts=tuple(alerts),
            detail=detail,
        )

    def staff_directory(self) -> list[StaffEntry]:
        return self.staff.directory()

    def staff_login(self, name: str, pin: str) -> StaffSession:
        return self.staff.login(name, pin)

    def staff_logout(self, who: StaffSession, reason: str) -> None:
        self.staff.logout(who, reason)

    def staff_lockers(self, who: StaffSession) -> list[LockerView]:
        return self.staff.lockers(who)

    def staff_action(
        self, who: StaffSession, action: str, label: str, reason: str
    ) -> StaffActionResult:
        if action == "open":
            return self.staff.force_open(who, label, reason)
        if action == "reset":
            return self.staff.reset(who, label, reason)
        if action == "out_of_service":
            return self.staff.set_out_of_service(who, label, reason)
        if action == "back_in_service":
            return self.staff.back_in_service(who, label)
        raise ValueError(f"unknown staff action {action!r}")

    def staff_audit(
        self, who: StaffSession, action: str | None, locker: str | None, limit: int
    ) -> list[AuditRow]:
        return self.staff.audit_log(
            who, action=action or None, locker_label=locker or None, limit=limit
        )

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for closer in reversed(self._closers):
            try:
                closer()
            except Exception:  # closing must go on for the other parts
                log.exception("error while closing")


@dataclass
class KioskParts:
    """Everything the kiosk window needs, built by :func:`build_kiosk`.

    ``pipeline_factory`` and ``camera_factory`` are called by the camera worker in its own
    thread (loading the model takes seconds). ``notices`` are shown on screen and printed:
    untrained model, replayed video, skipped liveness.
    """

    settings: Settings
    backend: ServicesBackend
    pipeline_factory: Callable[[], FacePipeline]
    camera_factory: Callable[[], FrameSource]
    flow_settings: FlowSettings
    untrained: bool = False
    demo: bool = False
    notices: list[str] = field(default_factory=list)
    emulator: BoardEmulator | None = None
    # `lockers doctor`'s start-up checks that failed: out of order, shown to staff on screen.
    failed_checks: list[str] = field(default_factory=list)

    def close(self) -> None:
        self.backend.close()


def build_kiosk(
    settings: Settings,
    *,
    demo: bool = False,
    untrained: bool = False,
    embedder: Embedder | None = None,
    camera_factory: Callable[[], FrameSource] | None = None,
    liveness: bool | None = None,
    flow_overrides: dict[str, Any] | None = None,
    clock: Callable[[], datetime] | None = None,
    passive: bool | None = None,
    pad: PresentationAttackDetector | None = None,
) -> KioskParts:
    """Open the store, the board and the services; prepare the camera and the pipeline.

    Args:
        settings: validated settings (for the demo, pass them through :func:`demo_settings`).
        demo: migrate a fresh database, label the run as a demo.
        untrained: run recognition on random weights (demo only; loudly labelled).
        embedder: replaces the configured embedder (tests: a double at the model boundary).
        camera_factory: replaces the configured camera (tests: a scripted replay).
        liveness: force the active liveness check on or off; default: on, except for a replayed
            video in the demo (a recording cannot turn its head).
        flow_overrides: :class:`~lockers.kiosk.flow.FlowSettings` fields to change (tests).
        clock: UTC clock of the services (tests).
        passive: force the passive anti-spoofing check on or off; default: as
            ``liveness.passive`` says, except in the demo without verified anti-spoofing weights
            (then off, labelled on screen).
        pad: replaces the anti-spoofing models (tests: a double at the model boundary).

    Raises:
        StoreError, BoardError, ConfigError: the store or the board cannot be opened.
    """
    from dataclasses import replace

    from lockers.hardware.boards import open_board
    from lockers.kiosk.flow import FlowSettings
    from lockers.kiosk.rental_service import RentalService
    from lockers.kiosk.staff_service import StaffService
    from lockers.kiosk.startup import connect, open_database, start_store
    from lockers.store.schema import upgrade

    if untrained and not demo:
        raise WeightsError(
            "untrained weights are for the demo only",
            hint="run `lockers models download`, or use `lockers demo`",
        )
    if demo:
        database = connect(settings)
        try:
            upgrade(database)
        finally:
            database.dispose()
    else:
        open_database(settings).dispose()  # a clear error before anything else starts
    store, report = start_store(settings)
    closers: list[Callable[[], None]] = [store.close]
    try:
        for finding in report.findings:
            log.warning("start-up check: %s %s", finding.kind, finding.detail)
        board = open_board(settings.board, settings.lockers)
        closers.append(board.close)
        services_kwargs: dict[str, Any] = {} if clock is None else {"clock": clock}
        rental = RentalService.from_settings(
            settings, store.database, board, store.cipher, **services_kwargs
        )
        staff = StaffService(
            store.database, board, kiosk_id=settings.database.kiosk_id, **services_kwargs
        )
        backend = ServicesBackend(store, board, rental, staff, closers=closers)
        if demo:
            ensure_demo_staff(staff)
    except BaseException:
        for closer in reversed(closers):
            closer()
        raise

    notices: list[str] = []
    replay = is_replay(settings.camera.source)
    use_liveness = liveness if liveness is not None else not (demo and replay)
    if untrained:
        notices.append(
            "UNTRAINED MODEL: no verified face weights; recognition means nothing (demo only)"
        )
    if demo and replay:
        notices.append(f"replayed video {Path(settings.camera.source).name} instead of a camera")
    if not use_liveness:
        notices.append("liveness check skipped: a replayed video cannot turn its head")
    use_passive = passive
    if use_passive is None:
        use_passive = settings.liveness.passive == "on"
        if use_passive and demo and pad is None and anti_spoof_problems(settings):
            use_passive = False
            notices.append(
                "passive anti-spoofing OFF: no verified anti-spoof weights "
                "(`lockers models download --anti-spoof`)"
            )
    if use_passive:
        if demo:
            notices.append("passive anti-spoofing on (MiniFASNet): photos and screens are refused")
    else:
        if settings.liveness.passive == "off":
            notices.append("PASSIVE ANTI-SPOOFING OFF (liveness.passive: off)")
        rental.record_passive_check_off()
    flow_settings = FlowSettings.from_settings(
        settings, liveness=use_liveness, passive=use_passive
    )
    if flow_overrides:
        flow_settings = replace(flow_settings, **flow_overrides)

    def pipeline_factory() -> FacePipeline:
        return build_pipeline(
            settings, allow_untrained=untrained, embedder=embedder, passive=use_passive, pad=pad
        )

    def default_camera() -> FrameSource:
        from lockers.vision.camera import open_source

        return open_source(settings.camera, realtime=True)

    return KioskParts(
        settings=settings,
        backend=backend,
        pipeline_factory=pipeline_factory,
        camera_factory=camera_factory or default_camera,
        flow_settings=flow_settings,
        untrained=untrained,
        demo=demo,
        notices=notices,
        emulator=getattr(board, "emulator", None),
    )


def run_startup_checks(settings: Settings) -> list[str]:
    """The doctor's checks the kiosk does not watch live itself (camera, board and the model
    are shown live), run once the store is open. Problems are logged; the failed ones come
    back as "name: what → fix" lines for the out-of-order screen.
    """
    from lockers.doctor import Status, run_checks

    failed: list[str] = []
    for result in run_checks(settings, startup=True):
        if result.status is Status.OK:
            continue
        line = f"{result.name}: {result.detail}" + (f" → {result.fix}" if result.fix else "")
        if result.status is Status.FAIL:
            log.error("start-up check failed: %s", line)
            failed.append(line)
        else:
            log.warning("start-up check: %s", line)
    return failed


DEMO_STAFF = ("staff", "1234")
"""Name and PIN of the staff account every demo database gets (printed by ``lockers demo``)."""


def ensure_demo_staff(staff: StaffService) -> None:
    """Create the demo staff account unless it exists."""
    from lockers.store.staff_repo import StaffExistsError

    with contextlib.suppress(StaffExistsError):
        staff.add_staff(*DEMO_STAFF, role="admin", actor="demo")
