"""Faces as the kiosk sees them: detect → quality gate → align, with the kiosk's own code.

Evaluation, calibration and ``dataset align`` all go through :func:`prepare_faces`, which uses
``lockers.vision`` (detector, quality gate, aligner) exactly as the kiosk does, so a model is
measured and trained on the same crops it will meet at the locker.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
import numpy.typing as npt

from lockers.errors import LockersError

if TYPE_CHECKING:
    from lockers.config import Settings
    from lockers.vision.embedder import Embedder

InputMode = Literal["aligned", "crop"]
Source = Literal["detect", "prealigned"]
Progress = Callable[[int, int], None]


@dataclass
class PreparedFace:
    """One image after the pipeline: a ``(160, 160, 3)`` uint8 RGB face per input mode, or the
    reasons it has none (``no_face``, ``multiple_faces``, a quality issue, ``unreadable``)."""

    path: str
    faces: dict[str, npt.NDArray[np.uint8]] = field(default_factory=dict)
    rejected: list[str] = field(default_factory=list)
    quality: dict[str, object] | None = None

    @property
    def ok(self) -> bool:
        return not self.rejected


class FacePreparer:
    """Runs images (``images_root / path``) through the kiosk's face pipeline, one at a time.

    ``source="prealigned"`` takes the images as already-aligned faces (resized to 160 if
    needed; the output of ``lockers dataset align``) and has a single mode, ``aligned``.
    ``gate=False`` keeps faces that fail the quality gate (still refused: no face, two faces).
    """

    def __init__(
        self,
        images_root: Path,
        settings: Settings,
        modes: tuple[InputMode, ...] = ("aligned",),
        source: Source = "detect",
        gate: bool = True,
    ) -> None:
        self.images_root = images_root
        self.modes = modes
        self.gate = gate
        self.pipeline = None
        if source == "detect":
            from lockers.vision.pipeline import FacePipeline

            self.pipeline = FacePipeline.from_settings(settings)

    def prepare(self, rel: str) -> PreparedFace:
        """The faces of one image (``rel`` relative to the images root)."""
        from lockers.errors import ImageError
        from lockers.vision.align import FACE_SIZE, align_face
        from lockers.vision.image_io import load_image

        prepared = PreparedFace(rel)
        try:
            image = load_image(self.images_root / rel)
        except ImageError as exc:
            prepared.rejected.append(f"unreadable: {exc.message}")
            return prepared
        if self.pipeline is None:
            prepared.faces["aligned"] = _resize(image, FACE_SIZE)
            return prepared
        analysis = self.pipeline.analyse(image, embed=False)
        prepared.quality = analysis.quality.to_json()
        subject = analysis.subject
        if subject is None:
            prepared.rejected.append("no_face")
        elif analysis.multiple_faces:
            prepared.rejected.append("multiple_faces")
        elif self.gate and not analysis.quality.ok:
            prepared.rejected.extend(analysis.quality.reasons)
        else:
            for mode in self.modes:
                prepared.faces[mode] = align_face(image, subject, mode)
        return prepared


def prepare_faces(
    paths: Iterable[str],
    images_root: Path,
    settings: Settings,
    modes: tuple[InputMode, ...] = ("aligned",),
    source: Source = "detect",
    gate: bool = True,
    progress: Progress | None = None,
) -> dict[str, PreparedFace]:
    """Path → :class:`PreparedFace` for every distinct path (see :class:`FacePreparer`)."""
    unique = list(dict.fromkeys(paths))
    preparer = FacePreparer(images_root, settings, modes, source, gate)
    out: dict[str, PreparedFace] = {}
    for done, rel in enumerate(unique, start=1):
        out[rel] = preparer.prepare(rel)
        if progress:
            progress(done, len(unique))
    return out


def _resize(image: npt.NDArray[np.uint8], size: int) -> npt.NDArray[np.uint8]:
    if image.shape[:2] == (size, size):
        return image
    import cv2

    return np.ascontiguousarray(cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA))


@dataclass
class EmbedderChoice:
    """An embedder and what it is: its back-end, model version, and whether it is untrained."""

    embedder: Embedder
    backend: str
    model_version: str
    untrained: bool


def open_embedder(
    settings: Settings,
    weights: Path | None,
    backend: str,
    allow_untrained: bool,
    cache_dir: Path,
) -> EmbedderChoice:
    """The kiosk's embedder for ``weights`` (default: the configured file) on ``backend``.

    Raises:
        WeightsError: no usable weights and ``allow_untrained`` is not set.
    """
    from lockers.vision.embedder import create_embedder
    from lockers.vision.modelstore import load_weights

    path = weights or settings.recognition.weights
    config = settings.recognition.model_copy(
        update={"backend": backend, "allow_untrained": allow_untrained, "weights": path}
    )
    loaded = None
    if path.is_file() or not allow_untrained:
        loaded = load_weights(path)
    cache_dir.mkdir(parents=True, exist_ok=True)
    embedder = create_embedder(config, loaded, cache_dir=cache_dir)
    return EmbedderChoice(embedder, backend, embedder.model_version, loaded is None)


def embed_prepared(
    prepared: dict[str, PreparedFace], mode: str, embedder: Embedder, batch: int = 32
) -> dict[str, npt.NDArray[np.float32]]:
    """Path → ``(512,)`` unit embedding for every prepared face in ``mode``."""
    keys = [k for k, p in prepared.items() if mode in p.faces]
    out: dict[str, npt.NDArray[np.float32]] = {}
    for start in range(0, len(keys), batch):
        chunk = keys[start : start + batch]
        vectors = embedder.embed(np.stack([prepared[k].faces[mode] for k in chunk]))
        out.update(zip(chunk, vectors, strict=True))
    return out


class NotEnoughFacesError(LockersError):
    """Too few usable faces or pairs to compute a figure."""
