"""Checks of the model files in the model store: the embedding weights and anti-spoofing."""

from __future__ import annotations

from lockers.config import Settings
from lockers.doctor.result import CheckResult, fail, ok, warn
from lockers.errors import LockersError

WEIGHTS_FIX = "run `lockers models download` (or `lockers models import FILE` offline)"
ANTI_SPOOF_FIX = (
    "run `lockers models download --anti-spoof` (offline: `lockers models import --anti-spoof "
    "FILE`), or set liveness.passive: off to run without it (shown on screen and audited)"
)


def verify_embedding_weights(settings: Settings, *, deep: bool) -> str:
    """The adapter to the weights verifier: returns what was verified, raises on a problem.

    ``deep`` loads the file and checks hash, keys, shapes and values (imports torch: for
    ``lockers doctor``); otherwise only the manifest record is checked (the kiosk's start-up,
    where the camera worker verifies the file again when it loads the model).

    Raises:
        WeightsError: missing, unrecorded, changed or not the expected architecture.
    """
    from lockers.errors import WeightsError
    from lockers.vision.modelstore.facenet import load_weights
    from lockers.vision.modelstore.manifest import read_manifest

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


def check_antispoof_weights(settings: Settings, *, deep: bool = True) -> CheckResult:
    """The passive anti-spoofing models: each configured file recorded with its pinned SHA-256
    (``deep`` also reads it and checks every key and shape, which imports torch)."""
    liveness = settings.liveness
    if liveness.passive == "off":
        return warn(
            "weights.antispoof",
            "liveness.passive is off: no capture is checked for photos or screens, and a "
            "retrieve opens without a head move",
            "run `lockers models download --anti-spoof` and remove liveness.passive: off",
        )
    from lockers.vision.modelstore.antispoof import load_antispoof, model_path, verified_files

    problems = verified_files(liveness)
    if problems:
        return fail("weights.antispoof", "; ".join(problems), ANTI_SPOOF_FIX)
    seen = []
    for spec in liveness.anti_spoof_models:
        if deep:
            try:
                loaded = load_antispoof(model_path(liveness, spec), spec)
            except LockersError as exc:
                return fail("weights.antispoof", exc.message, exc.hint or ANTI_SPOOF_FIX)
            seen.append(f"{spec.file}: {loaded.model_version}, verified")
        else:
            seen.append(f"{spec.file}: recorded")
    return ok("weights.antispoof", "; ".join(seen))


def check_liveness_tiers(settings: Settings) -> CheckResult:
    """What guards a door: the tiers of the passive score (an unsure capture for an existing
    rental must do one head move) and the moves of a new registration. Weakened settings are
    shown, never failed: they are a site's decision."""
    live = settings.liveness
    tiers = (
        f"threshold {live.threshold:.2f}, confident {live.confident:.2f}: an existing "
        "rental's door opens at or above confident, after one head move in between"
    )
    weak: list[str] = []
    if live.passive == "off":
        weak.append("liveness.passive is off: no tiers, every matched retrieve opens")
    if live.register_turns == 0:
        weak.append(
            "liveness.register_turns is 0: a new registration asks no head move (a face that "
            "already rents a locker still needs one when its score is unsure)"
        )
    if weak:
        fix = "set liveness.register_turns: 1 (the default) and liveness.passive: on"
        return warn("liveness", "; ".join(weak), fix)
    moves = f"a registration asks {live.register_turns} head move(s)"
    return ok("liveness", f"{tiers}; {moves}")
