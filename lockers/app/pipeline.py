"""The face pipeline the kiosk runs, and the start-up rules about its weights."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lockers.config import Settings
from lockers.errors import WeightsError

if TYPE_CHECKING:
    from lockers.vision.antispoof import PresentationAttackDetector
    from lockers.vision.embedder import Embedder
    from lockers.vision.pipeline import FacePipeline


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
