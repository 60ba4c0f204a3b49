"""Composition root: builds the kiosk's parts from settings (real or demo).

Collaborators are created here and passed in; nothing below this module constructs its own
dependencies or reads the config file.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lockers.config import Settings

if TYPE_CHECKING:
    from lockers.vision.pipeline import FacePipeline


def build_pipeline(
    settings: Settings, *, embed: bool = True, allow_untrained: bool = False
) -> FacePipeline:
    """The face pipeline of ``settings``, with the configured embedder when ``embed`` is set.

    ``allow_untrained`` is the development flag: random weights, loudly labelled.

    Raises:
        WeightsError: ``embed`` is set and the weights are missing or invalid.
    """
    from lockers.vision.embedder import load_embedder
    from lockers.vision.pipeline import FacePipeline

    embedder = None
    if embed:
        recognition = settings.recognition
        if allow_untrained:
            recognition = recognition.model_copy(update={"allow_untrained": True})
        embedder = load_embedder(recognition)
    return FacePipeline.from_settings(settings, embedder)
