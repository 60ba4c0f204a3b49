"""Checks of the model files: the embedding weights, and (once they exist) anti-spoofing.

Both go through one small adapter each, so the weights store can change underneath (the lead
re-points :func:`verify_embedding_weights` when ``vision/weights.py`` becomes a model store).
"""

from __future__ import annotations

from lockers.config import Settings
from lockers.doctor.result import CheckResult, fail, ok, warn
from lockers.errors import LockersError

WEIGHTS_FIX = "run `lockers models download` (or `lockers models import FILE` offline)"


def verify_embedding_weights(settings: Settings, *, deep: bool) -> str:
    """The adapter to the weights verifier: returns what was verified, raises on a problem.

    ``deep`` loads the file and checks hash, keys, shapes and values (imports torch: for
    ``lockers doctor``); otherwise only the manifest record is checked (the kiosk's start-up,
    where the camera worker verifies the file again when it loads the model).

    Raises:
        WeightsError: missing, unrecorded, changed or not the expected architecture.
    """
    from lockers.errors import WeightsError
    from lockers.vision.weights import load_weights, read_manifest

    path = settings.recognition.weights
    if not deep:
        entry = read_manifest(path.parent).get(path.name)
        if entry is None or not path.is_file():
            raise WeightsError(f"no verified embedding weights at {path}", hint=WEIGHTS_FIX)
        return f"{path.name}: recorded as {entry.model_version}"
    loaded = load_weights(path)
    return f"{path.name}: {loaded.model_version}, sha256 {loaded.sha256[:12]}…, verified"


def check_embedding_weights(settings: Settings, *, deep: bool = True) -> CheckResult:
    if settings.recognition.allow_untrained:
        return fail(
            "weights.embedding",
            "recognition.allow_untrained is set (random weights)",
            "remove allow_untrained from the config and LOCKERS_RECOGNITION__ALLOW_UNTRAINED",
        )
    try:
        detail = verify_embedding_weights(settings, deep=deep)
    except LockersError as exc:
        return fail("weights.embedding", exc.message, exc.hint or WEIGHTS_FIX)
    return ok("weights.embedding", detail)


def check_antispoof_weights(settings: Settings) -> CheckResult:
    """Hook for the anti-spoofing model: not configured yet (the lead fills it at merge)."""
    del settings
    return warn(
        "weights.antispoof",
        "anti-spoofing is not configured (the head-turn liveness check is used)",
        "nothing to do until anti-spoofing weights are shipped",
    )
