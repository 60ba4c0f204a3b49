"""Turning a detected face into the 160x160 input of the embedding network.

Two modes, selectable so their accuracy can be compared (``recognition.input_mode``):

- ``aligned``: a 5-point similarity transform (rotation, uniform scale, translation) that maps
  the landmarks onto :data:`TEMPLATE_160`; the eyes end up level and at fixed positions.
- ``crop``: the detector's box resized to 160x160, exactly what ``MTCNN(image_size=160,
  margin=0)`` feeds the network in facenet-pytorch.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import numpy.typing as npt

from lockers.vision.types import DetectedFace

FACE_SIZE = 160

TEMPLATE_160 = np.array(
    [
        [52.7, 65.2],  # left eye (image left)
        [107.3, 65.2],  # right eye
        [80.0, 98.6],  # nose tip
        [54.2, 119.8],  # mouth left
        [105.8, 119.8],  # mouth right
    ],
    dtype=np.float32,
)
"""Where the 5 landmarks land in a 160x160 aligned face.

Measured, not borrowed: the mean MTCNN landmarks of the 30 portraits in ``../shared/faces``,
relative to their face boxes, made left/right symmetric and kept isotropic (MTCNN boxes are
about 0.72 as wide as tall, and the crop mode stretches them to square; a similarity transform
cannot, so the template keeps the face's real proportions at the crop mode's vertical framing).
"""

InputMode = Literal["aligned", "crop"]


LANDMARK_WEIGHTS = np.array([6.0, 6.0, 0.5, 1.0, 1.0])
"""Weights of the 5 points in the fit. The nose tip sticks out of the face plane and wanders
with every turn of the head; the eyes are what the network needs in place. With these weights
the eyes of all 29 portraits in ../shared/faces land within 1.7 px of the template (mean 0.7 px)."""


def similarity_transform(
    src: npt.NDArray[np.float32],
    dst: npt.NDArray[np.float32],
    weights: npt.NDArray[np.float64] | None = None,
) -> npt.NDArray[np.float64]:
    """Weighted least-squares similarity transform (Umeyama, no reflection), ``src`` → ``dst``.

    Args:
        src, dst: point sets of shape ``(n, 2)``, ``n >= 2``.
        weights: per-point weights of shape ``(n,)`` (default: all equal).

    Returns:
        A ``(2, 3)`` matrix ``M`` with ``dst ≈ src @ M[:, :2].T + M[:, 2]``.
    """
    src64, dst64 = np.asarray(src, np.float64), np.asarray(dst, np.float64)
    w = np.ones(len(src64)) if weights is None else np.asarray(weights, np.float64)
    w = w / w.sum()
    mu_s, mu_d = w @ src64, w @ dst64
    s, d = src64 - mu_s, dst64 - mu_d
    var_s = float(w @ (s**2).sum(axis=1))
    if var_s <= 1e-12:
        raise ValueError("landmarks are degenerate (all in one place)")
    cov = (d * w[:, None]).T @ s
    u, sig, vt = np.linalg.svd(cov)
    sign = np.eye(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        sign[1, 1] = -1.0
    rot = u @ sign @ vt
    scale = float(np.trace(np.diag(sig) @ sign) / var_s)
    matrix = np.empty((2, 3))
    matrix[:, :2] = scale * rot
    matrix[:, 2] = mu_d - scale * rot @ mu_s
    return matrix


def align_face(
    image: npt.NDArray[np.uint8], face: DetectedFace, mode: InputMode = "aligned"
) -> npt.NDArray[np.uint8]:
    """Cut one face out of an RGB frame as a ``(160, 160, 3)`` uint8 RGB array.

    Pixels outside the frame are filled by replicating the border, so a face at the edge still
    gives a full-size input (the quality gate refuses such faces separately).
    """
    import cv2

    if mode == "aligned":
        matrix = similarity_transform(face.landmarks, TEMPLATE_160, LANDMARK_WEIGHTS)
        out = cv2.warpAffine(
            image,
            matrix,
            (FACE_SIZE, FACE_SIZE),
            flags=cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_REPLICATE,
        )
    elif mode == "crop":
        x1, y1, x2, y2 = face.box
        # An affine map from the (float) box to the output square: sub-pixel exact, and it
        # pads outside the frame instead of shrinking the box as a slice would.
        sx, sy = FACE_SIZE / (x2 - x1), FACE_SIZE / (y2 - y1)
        # Half-pixel terms: OpenCV samples at pixel centres, the box is in continuous units.
        matrix = np.array([[sx, 0.0, sx * (0.5 - x1) - 0.5], [0.0, sy, sy * (0.5 - y1) - 0.5]])
        shrinking = sx < 1.0 or sy < 1.0
        out = cv2.warpAffine(
            image,
            matrix,
            (FACE_SIZE, FACE_SIZE),
            flags=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_REPLICATE,
        )
    else:
        raise ValueError(f"unknown input mode {mode!r}; use 'aligned' or 'crop'")
    return np.ascontiguousarray(out)


def standardise(faces: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
    """The normalisation InceptionResnetV1 (VGGFace2) was trained with, as NCHW float32.

    ``(x - 127.5) / 128`` per channel, i.e. facenet-pytorch's ``fixed_image_standardization``.

    Args:
        faces: ``(n, 160, 160, 3)`` uint8 RGB.
    """
    if faces.ndim != 4 or faces.shape[3] != 3:
        raise ValueError(f"faces must have shape (n, H, W, 3), got {faces.shape}")
    out = (faces.astype(np.float32) - 127.5) / 128.0
    return np.ascontiguousarray(out.transpose(0, 3, 1, 2))
