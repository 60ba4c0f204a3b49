"""All the doctor's checks, in the order a site fixes them: software, screen, devices, data."""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection

from lockers.config import Settings
from lockers.doctor import audio, devices, models, qt, storage, system
from lockers.doctor.result import CheckResult, Status, fail

log = logging.getLogger(__name__)

# The kiosk watches these live itself (camera and board reconnect, the model loads in its
# worker, Qt is already running its window): at start-up the doctor leaves them to it.
# The kiosk's voice logs itself why it is silent (no audio output), so "audio" is left out too.
LIVE_AT_STARTUP = frozenset({"qt", "camera", "board", "audio"})
# Names of the checks, for --skip (a check may report under a finer name, e.g. qt.xcb).
CHECKS = (
    "python",
    "packages",
    "qt",
    "font",
    "camera",
    "board",
    "audio",
    "prompts",
    "weights",
    "antispoof",
    "liveness",
    "database",
    "key_file",
    "user",
    "disk",
    "clock",
)


def _guarded(name: str, check: Callable[[], CheckResult]) -> CheckResult:
    """A check that crashes is a failed check with its reason, never a crashed doctor."""
    try:
        return check()
    except Exception as exc:  # every check's own errors are handled; this is the safety net
        log.exception("doctor check %s crashed", name)
        return fail(name, f"the check itself failed: {type(exc).__name__}: {exc}", "report this")


def run_checks(
    settings: Settings,
    *,
    startup: bool = False,
    camera_seconds: float = 2.0,
    skip: Collection[str] = (),
    on_result: Callable[[CheckResult], None] | None = None,
) -> list[CheckResult]:
    """Run every check (``startup``: those the kiosk does not watch live, weights by their
    manifest record only). ``skip``: names from :data:`CHECKS` not to run (the camera and the
    board while a kiosk holds them). ``on_result`` sees each result as it comes."""
    unknown = set(skip) - set(CHECKS)
    if unknown:
        raise ValueError(f"unknown checks {sorted(unknown)}: use {', '.join(CHECKS)}")
    skipped = set(skip) | (LIVE_AT_STARTUP if startup else set())
    results: list[CheckResult] = []

    def emit(result: CheckResult) -> None:
        results.append(result)
        if on_result is not None:
            on_result(result)

    def add(name: str, check: Callable[[], CheckResult]) -> None:
        if name not in skipped:
            emit(_guarded(name, check))

    add("python", system.check_python)
    add("packages", system.check_packages)
    add("qt", lambda: qt.check_qt_platform(settings))
    add("font", lambda: system.check_hangul_font(settings))
    add("camera", lambda: devices.check_camera(settings, camera_seconds))
    add("board", lambda: devices.check_board(settings))
    add("audio", lambda: audio.check_audio_output(settings))
    add("prompts", lambda: audio.check_prompts(settings))
    add("weights", lambda: models.check_embedding_weights(settings, deep=not startup))
    add("antispoof", lambda: models.check_antispoof_weights(settings, deep=not startup))
    add("liveness", lambda: models.check_liveness_tiers(settings))
    store = storage.StoreFindings()
    if "database" not in skipped:
        try:
            store = storage.check_store(settings)
        except Exception as exc:  # the safety net, as in _guarded
            log.exception("doctor check database crashed")
            store = storage.StoreFindings([fail("database", f"the check itself failed: {exc}", "")])
    for result in store.results:  # database, database.schema, lockers: as far as they got
        emit(result)
    add("key_file", lambda: storage.check_key_file(settings, store))
    add("user", system.check_kiosk_user)
    add("disk", lambda: system.check_disk(settings))
    add("clock", lambda: system.check_clock(store.newest_record))
    return results


def worst(results: list[CheckResult]) -> Status:
    if any(r.status is Status.FAIL for r in results):
        return Status.FAIL
    if any(r.status is Status.WARN for r in results):
        return Status.WARN
    return Status.OK
