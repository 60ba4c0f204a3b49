"""Make the moving-face bench videos from ../shared/faces (640x480, 15 fps, real motion).

- ``moving-face.mp4``: one person at kiosk distance (face about 150-190 px wide), the face
  drifting across the frame, scaling (stepping closer and back) and turning slightly, with sensor
  noise and a slow change of light, so no two frames show the same pixels.
- ``second-face.mp4``: the same, and from ``--enter-at`` a second person's face slides in from
  the right and stays (the "one person at a time" rule must notice within the re-detect interval).
- ``wide-shot.mp4``: a group photo seen from far away, panning: faces far below the kiosk's
  minimum size, so no frame has a usable face (the bench must say why, never print NaN).
- ``empty-scene.mp4``: nobody in front of the kiosk (a blurred room, panning): the idle frames.

Photos: see ../shared/faces/README.md for their origin. The faces are placed by our own MTCNN,
so their size in the frame is known.

    python scripts/make_bench_videos.py [--shared DIR] [--out DIR] [--frames N]
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

WIDTH, HEIGHT, FPS = 640, 480, 15
SUBJECT = "identities/person01/1.jpg"
SECOND = "identities/person03/1.jpg"
WIDE = "scenes/selfie-many-people.jpg"
GREY = (190, 190, 190)


def _face_box(image_rgb: npt.NDArray[np.uint8]) -> tuple[float, float, float]:
    """Centre x, centre y and width of the largest face (our detector, at full resolution)."""
    from lockers.config import DetectionConfig
    from lockers.vision.detector import FaceDetector

    detector = FaceDetector(DetectionConfig(min_face_px=40, detect_max_side_px=0))
    subject = detector.detect(image_rgb).subject
    if subject is None:
        raise SystemExit("no face found in a source photo")
    cx, cy = subject.center
    return cx, cy, subject.width


def _placement(
    face: tuple[float, float, float], width_px: float, centre: tuple[float, float], angle: float
) -> npt.NDArray[np.float64]:
    """Affine matrix putting the photo's face at ``centre`` with width ``width_px``."""
    scale = width_px / face[2]
    matrix = cv2.getRotationMatrix2D((face[0], face[1]), angle, scale)
    matrix[:, 2] += np.array(centre) - np.array(face[:2])
    return matrix


def _finish(
    frame: npt.NDArray[np.uint8], i: int, rng: np.random.Generator
) -> npt.NDArray[np.uint8]:
    # Sensor noise and a slow change of exposure: a live camera never repeats its pixels.
    gain = 1.0 + 0.06 * math.sin(i / 23)
    noisy = frame.astype(np.float32) * gain + rng.normal(0, 3.0, frame.shape)
    return np.clip(noisy, 0, 255).astype(np.uint8)


def _subject_frame(
    photo: npt.NDArray[np.uint8], face: tuple[float, float, float], i: int
) -> npt.NDArray[np.uint8]:
    # Drift left-right and up-down, step closer and back, a slight head tilt.
    width_px = 165 + 25 * math.sin(i / 17)
    centre = (WIDTH / 2 + 70 * math.sin(i / 11), HEIGHT / 2 - 10 + 22 * math.sin(i / 7))
    matrix = _placement(face, width_px, centre, 4 * math.sin(i / 13))
    return cv2.warpAffine(photo, matrix, (WIDTH, HEIGHT), borderValue=GREY)


def _paste_second(
    frame: npt.NDArray[np.uint8],
    second: npt.NDArray[np.uint8],
    second_face: tuple[float, float, float],
    since: int,
) -> None:
    """A second person's head slides in from the right edge over about a second and stays."""
    progress = min(1.0, since / FPS)
    side = 130.0
    cx = WIDTH + side - progress * (side + 110)
    matrix = _placement(second_face, side, (cx, HEIGHT / 2 - 30), 0)
    patch = cv2.warpAffine(second, matrix, (WIDTH, HEIGHT), borderValue=(0, 0, 0))
    mask = cv2.warpAffine(np.full(second.shape[:2], 255, np.uint8), matrix, (WIDTH, HEIGHT))
    # Only a head-sized window of the second photo, as a person beside the first.
    window = np.zeros_like(mask)
    x0, y0 = int(cx - side * 1.1), int(HEIGHT / 2 - 30 - side * 1.4)
    window[max(0, y0) : y0 + int(side * 2.8), max(0, x0) : x0 + int(side * 2.2)] = 255
    mask = cv2.bitwise_and(mask, window)
    frame[mask > 0] = patch[mask > 0]


def make_moving_face(
    shared: Path, out: Path, frames: int = 120, second_enters_at: int | None = None
) -> Path:
    """Write one moving-face video (optionally with a second face entering); returns ``out``."""
    photo = cv2.imread(str(shared / SUBJECT))
    if photo is None:
        raise SystemExit(f"cannot read {shared / SUBJECT}")
    face = _face_box(photo[:, :, ::-1].copy())
    second = second_face = None
    if second_enters_at is not None:
        second = cv2.imread(str(shared / SECOND))
        if second is None:
            raise SystemExit(f"cannot read {shared / SECOND}")
        second_face = _face_box(second[:, :, ::-1].copy())
    rng = np.random.default_rng(0)
    writer = _writer(out)
    for i in range(frames):
        frame = _subject_frame(photo, face, i)
        since = -1 if second_enters_at is None else i - second_enters_at
        if second is not None and second_face is not None and since >= 0:
            _paste_second(frame, second, second_face, since)
        writer.write(_finish(frame, i, rng))
    writer.release()
    return out


def make_wide_shot(shared: Path, out: Path, frames: int = 60) -> Path:
    """Write the wide-shot video: a group far away, panning slowly; no usable face."""
    photo = cv2.imread(str(shared / WIDE))
    if photo is None:
        raise SystemExit(f"cannot read {shared / WIDE}")
    h, w = photo.shape[:2]
    rng = np.random.default_rng(1)
    writer = _writer(out)
    for i in range(frames):
        scale = WIDTH * 0.55 / w * (1 + 0.05 * math.sin(i / 19))
        dx = WIDTH / 2 - scale * w / 2 + 40 * math.sin(i / 15)
        dy = HEIGHT / 2 - scale * h / 2
        matrix = np.array([[scale, 0, dx], [0, scale, dy]])
        frame = cv2.warpAffine(photo, matrix, (WIDTH, HEIGHT), borderValue=GREY)
        writer.write(_finish(frame, i, rng))
    writer.release()
    return out


def make_empty_scene(shared: Path, out: Path, frames: int = 60) -> Path:
    """Write the idle video: the kiosk's view with nobody in front of it (a room-like
    background: the group photo blurred past recognition, panning, light changing), so the
    bench can time the frames a kiosk sees most of the day."""
    photo = cv2.imread(str(shared / WIDE))
    if photo is None:
        raise SystemExit(f"cannot read {shared / WIDE}")
    room = cv2.GaussianBlur(cv2.resize(photo, (WIDTH * 2, HEIGHT * 2)), (0, 0), 25)
    rng = np.random.default_rng(2)
    writer = _writer(out)
    for i in range(frames):
        x = int(WIDTH / 2 + WIDTH / 3 * math.sin(i / 23))
        y = int(HEIGHT / 2 + HEIGHT / 4 * math.sin(i / 31))
        frame = room[y : y + HEIGHT, x : x + WIDTH]
        writer.write(_finish(np.ascontiguousarray(frame), i, rng))
    writer.release()
    return out


def _writer(out: Path) -> cv2.VideoWriter:
    out.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"mp4v"), FPS, (WIDTH, HEIGHT))
    if not writer.isOpened():
        raise SystemExit(f"cannot write {out}")
    return writer


def main() -> None:
    repo = Path(__file__).resolve().parents[1]
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=repo.parent / "shared" / "faces")
    parser.add_argument("--out", type=Path, default=repo / "data" / "bench")
    parser.add_argument("--frames", type=int, default=120)
    parser.add_argument("--enter-at", type=int, default=45, help="frame the second face enters")
    args = parser.parse_args()
    written = [
        make_moving_face(args.shared, args.out / "moving-face.mp4", args.frames),
        make_moving_face(
            args.shared, args.out / "second-face.mp4", args.frames, second_enters_at=args.enter_at
        ),
        make_wide_shot(args.shared, args.out / "wide-shot.mp4", max(30, args.frames // 2)),
        make_empty_scene(args.shared, args.out / "empty-scene.mp4", max(30, args.frames // 2)),
    ]
    for path in written:
        print(f"wrote {path} ({path.stat().st_size // 1024} KiB)")


if __name__ == "__main__":
    main()
