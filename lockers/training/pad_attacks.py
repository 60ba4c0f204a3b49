"""Simulated presentation attacks: what the kiosk camera would see of a printed photo or a screen.

Material for ``lockers evaluate-pad``, made from real face images (the shared portraits and the
frames of a face video). Two kinds, each with seeded random parameters (recorded beside every
file in ``attacks.csv`` so a set can be remade exactly):

- **print**: the photo on paper: the printer's narrower tonal range and desaturation, a warm
  paper tint, halftone-like grain and paper texture, a little print blur, a white border; the
  sheet is held in front of the camera with a perspective tilt over a room-like background, lit
  unevenly.
- **screen** (replay of a photo or a video frame): the picture on a phone or tablet: display
  gamma and a lifted black level, a blue-ish white point, the RGB sub-pixel grid (which beats
  against the camera's own sampling into moiré once the screen is re-imaged), a dark bezel, and
  a soft reflection of the room on the glass, tilted in front of the camera.

Both end with the camera: a little defocus, sensor noise and JPEG compression. These are
simulations, not a lab test with real paper and real screens (ISO/IEC 30107-3): they are a
regression check of the detector, and a rough figure of merit.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from lockers.errors import ImageError
from lockers.vision.image_io import load_image

Image = npt.NDArray[np.uint8]
FRAME_SIZE = (640, 480)  # the kiosk camera's frame (width, height)
KINDS = ("print", "screen")


@dataclass(frozen=True)
class AttackRecord:
    """One generated file and how it was made."""

    file: str
    kind: str
    source: str
    seed: int
    tilt: float  # perspective strength (fraction of the medium's size)
    coverage: float  # medium width / frame width
    detail: str


def _to_float(image: Image) -> npt.NDArray[np.float32]:
    return image.astype(np.float32) / 255.0


def _to_uint8(image: npt.NDArray[np.float32]) -> Image:
    return np.clip(image * 255.0 + 0.5, 0, 255).astype(np.uint8)


def _smooth_noise(shape: tuple[int, int], scale: float, rng: np.random.Generator) -> np.ndarray:
    """Low-frequency noise in [-1, 1] (blurred white noise)."""
    h, w = shape
    small = rng.standard_normal((max(2, int(h / scale)), max(2, int(w / scale)))).astype(np.float32)
    big = cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)
    return big / max(1e-6, float(np.abs(big).max()))


def _background(rng: np.random.Generator) -> npt.NDArray[np.float32]:
    """A room-like backdrop: a dim gradient with soft blobs (no face in it)."""
    w, h = FRAME_SIZE
    base = rng.uniform(0.25, 0.6, size=3).astype(np.float32)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    angle = rng.uniform(0, 2 * np.pi)
    ramp = (np.cos(angle) * xx / w + np.sin(angle) * yy / h)[..., None]
    blobs = _smooth_noise((h, w), 120.0, rng)[..., None] * rng.uniform(0.05, 0.15)
    return np.clip(base[None, None, :] * (0.8 + 0.3 * ramp) + blobs, 0, 1)


def _place(
    medium: npt.NDArray[np.float32],
    rng: np.random.Generator,
    coverage: float,
    tilt: float,
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    """Warp ``medium`` into the frame with a random perspective tilt; returns (frame, mask)."""
    w, h = FRAME_SIZE
    mh, mw = medium.shape[:2]
    width = coverage * w
    height = width * mh / mw
    if height > 0.95 * h:
        height = 0.95 * h
        width = height * mw / mh
    cx = w / 2 + rng.uniform(-0.1, 0.1) * w
    cy = h / 2 + rng.uniform(-0.08, 0.08) * h
    corners = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]], dtype=np.float32) * np.array(
        [width / 2, height / 2], dtype=np.float32
    )
    # Tilt about a random axis: one side nearer the camera (bigger) than the other.
    axis = rng.uniform(0, 2 * np.pi)
    direction = np.array([np.cos(axis), np.sin(axis)], dtype=np.float32)
    along = corners @ direction / max(width, height) * 2
    corners *= (1.0 + tilt * along)[:, None]
    rotation = np.deg2rad(rng.uniform(-8, 8))
    rot = np.array(
        [[np.cos(rotation), -np.sin(rotation)], [np.sin(rotation), np.cos(rotation)]],
        dtype=np.float32,
    )
    target = corners @ rot.T + np.array([cx, cy], dtype=np.float32)
    source = np.array([[0, 0], [mw - 1, 0], [mw - 1, mh - 1], [0, mh - 1]], dtype=np.float32)
    matrix = cv2.getPerspectiveTransform(source, target.astype(np.float32))
    warped = cv2.warpPerspective(medium, matrix, (w, h), flags=cv2.INTER_LINEAR)
    mask = cv2.warpPerspective(
        np.ones((mh, mw), np.float32), matrix, (w, h), flags=cv2.INTER_LINEAR
    )
    return warped, mask[..., None]


def _camera(frame: npt.NDArray[np.float32], rng: np.random.Generator) -> Image:
    """Re-imaging by the kiosk camera: defocus, sensor noise, JPEG."""
    sigma = rng.uniform(0.4, 1.0)
    frame = cv2.GaussianBlur(frame, (0, 0), sigma)
    frame = frame + rng.normal(0, rng.uniform(0.006, 0.015), frame.shape).astype(np.float32)
    image = _to_uint8(frame)
    quality = int(rng.integers(70, 92))
    ok, data = cv2.imencode(".jpg", image[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ImageError("OpenCV could not JPEG-encode a simulated camera frame")
    return cv2.imdecode(data, cv2.IMREAD_COLOR)[..., ::-1].copy()


def _fit(image: Image, long_side: int) -> npt.NDArray[np.float32]:
    h, w = image.shape[:2]
    scale = long_side / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return _to_float(cv2.resize(image, size, interpolation=cv2.INTER_AREA))


def print_attack(image: Image, seed: int) -> tuple[Image, AttackRecord]:
    """The photo ``image`` (RGB) printed on paper and held up to the camera."""
    rng = np.random.default_rng(seed)
    photo = _fit(image, 900)
    h, w = photo.shape[:2]
    # The printer: narrower tonal range, less saturation, warm paper, grain, print blur.
    low, high = rng.uniform(0.04, 0.12), rng.uniform(0.85, 0.95)
    photo = low + (high - low) * photo
    grey = photo.mean(axis=2, keepdims=True)
    photo = grey + rng.uniform(0.6, 0.85) * (photo - grey)
    tint = np.array([1.0, rng.uniform(0.96, 0.99), rng.uniform(0.88, 0.95)], np.float32)
    photo = photo * tint
    photo = cv2.GaussianBlur(photo, (0, 0), rng.uniform(0.6, 1.6))
    grain = rng.normal(0, rng.uniform(0.015, 0.035), (h, w, 1)).astype(np.float32)
    texture = _smooth_noise((h, w), 6.0, rng)[..., None] * rng.uniform(0.01, 0.03)
    photo = photo * (1.0 + grain + texture)
    # The sheet: a white border around the picture.
    border = int(rng.uniform(0.04, 0.12) * max(h, w))
    paper = np.array([0.93, 0.92, 0.86], np.float32) * tint
    sheet = np.empty((h + 2 * border, w + 2 * border, 3), np.float32)
    sheet[:] = paper
    sheet[border : border + h, border : border + w] = photo
    # Held up: tilt, room lighting (an uneven gradient over the sheet).
    tilt, coverage = rng.uniform(0.0, 0.25), rng.uniform(0.55, 0.9)
    warped, mask = _place(sheet, rng, coverage, tilt)
    light = 0.85 + 0.25 * (_smooth_noise(warped.shape[:2], 200.0, rng)[..., None] * 0.5 + 0.5)
    frame = _background(rng) * (1 - mask) + warped * light * mask
    detail = f"range {low:.2f}-{high:.2f}, border {border}px"
    return _camera(frame, rng), AttackRecord("", "print", "", seed, tilt, coverage, detail)


def screen_attack(image: Image, seed: int) -> tuple[Image, AttackRecord]:
    """The picture ``image`` (RGB) shown on a phone or tablet held up to the camera."""
    rng = np.random.default_rng(seed)
    pitch = int(rng.integers(3, 6))  # rendered pixels per screen pixel
    screen_px = int(rng.uniform(220, 360))  # the screen's resolution along its long side
    content = _fit(image, screen_px)
    # The display: gamma, lifted blacks, a cooler white point, a little extra saturation.
    gamma = rng.uniform(0.8, 1.25)
    black = rng.uniform(0.03, 0.1)
    content = black + (1 - black) * np.power(content, gamma)
    grey = content.mean(axis=2, keepdims=True)
    content = grey + rng.uniform(1.0, 1.25) * (content - grey)
    content = content * np.array([rng.uniform(0.9, 0.97), 1.0, rng.uniform(1.0, 1.08)], np.float32)
    # Sub-pixels: each screen pixel drawn as R, G, B vertical stripes with dark gaps; re-imaged
    # by the camera at another pitch this aliases into moiré.
    h, w = content.shape[:2]
    big = cv2.resize(content, (w * pitch, h * pitch), interpolation=cv2.INTER_NEAREST)
    stripes = np.zeros((pitch, pitch, 3), np.float32)
    for channel in range(3):
        start = channel * pitch // 3
        stop = max(start + 1, (channel + 1) * pitch // 3)
        stripes[:, start:stop, channel] = 1.0
    stripes[-1, :, :] *= rng.uniform(0.3, 0.7)  # the gap between pixel rows
    grid = np.tile(stripes, (h, w, 1))
    strength = rng.uniform(0.15, 0.5)
    panel = big * ((1 - strength) + strength * 3.0 * grid)
    panel = np.clip(panel, 0, 1.2)
    # The bezel around the glass.
    bezel = int(rng.uniform(0.03, 0.09) * max(panel.shape[:2]))
    colour = rng.uniform(0.02, 0.12)
    device = np.full(
        (panel.shape[0] + 2 * bezel, panel.shape[1] + 2 * bezel, 3), colour, np.float32
    )
    device[bezel : bezel + panel.shape[0], bezel : bezel + panel.shape[1]] = panel
    tilt, coverage = rng.uniform(0.0, 0.25), rng.uniform(0.5, 0.85)
    warped, mask = _place(device, rng, coverage, tilt)
    # A reflection of the room on the glass: a soft bright blob and a faint streak.
    fh, fw = warped.shape[:2]
    yy, xx = np.mgrid[0:fh, 0:fw].astype(np.float32)
    bx, by = rng.uniform(0.2, 0.8) * fw, rng.uniform(0.2, 0.8) * fh
    radius = rng.uniform(0.15, 0.4) * fw
    blob = np.exp(-((xx - bx) ** 2 + (yy - by) ** 2) / (2 * radius**2))
    angle = rng.uniform(0, np.pi)
    streak = np.exp(-(((xx - bx) * np.sin(angle) - (yy - by) * np.cos(angle)) ** 2) / (2 * 18**2))
    glare = (rng.uniform(0.05, 0.2) * blob + rng.uniform(0.0, 0.08) * streak)[..., None]
    frame = _background(rng) * (1 - mask) + np.clip(warped + glare, 0, 1) * mask
    detail = f"pitch {pitch}, {screen_px}px, gamma {gamma:.2f}, bezel {bezel}px"
    return _camera(frame, rng), AttackRecord("", "screen", "", seed, tilt, coverage, detail)


ATTACKS = {"print": print_attack, "screen": screen_attack}


def video_frames(path: Path, every: int = 5) -> Iterator[tuple[str, Image]]:
    """Every ``every``-th frame of a video as (name, RGB image)."""
    capture = cv2.VideoCapture(str(path))
    index = 0
    try:
        while True:
            ok, frame = capture.read()
            if not ok:
                break
            if index % every == 0:
                yield f"{path.stem}-{index:04d}", cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
            index += 1
    finally:
        capture.release()


IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")


def real_sources(root: Path, *, video_every: int = 5) -> Iterator[tuple[str, Image]]:
    """The real faces under ``root``: images (recursively, name order) and the frames of
    videos, each as (name, RGB image); also accepts a single image or video file."""
    files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
    for file in files:
        suffix = file.suffix.lower()
        if suffix in IMAGE_SUFFIXES:
            name = file.relative_to(root).as_posix() if root.is_dir() else file.name
            yield name, load_image(file)
        elif suffix in (".mp4", ".avi", ".mov", ".mkv"):
            yield from video_frames(file, video_every)


def face_region(image: Image, box: tuple[float, float, float, float], scale: float) -> Image:
    """The part of ``image`` an attacker would print or show: ``box`` grown ``scale`` times
    (a head-and-shoulders picture), clipped to the image."""
    h, w = image.shape[:2]
    x1, y1, x2, y2 = box
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2 + 0.1 * (y2 - y1)
    half_w = (x2 - x1) * scale / 2
    half_h = half_w * 4 / 3
    left, right = max(0, int(cx - half_w)), min(w, int(cx + half_w))
    top, bottom = max(0, int(cy - half_h)), min(h, int(cy + half_h))
    return np.ascontiguousarray(image[top:bottom, left:right])


def generate(
    sources: list[Path],
    out: Path,
    *,
    find_face: Callable[[Image], tuple[float, float, float, float] | None],
    variants: int = 3,
    seed: int = 0,
    kinds: tuple[str, ...] = KINDS,
    video_every: int = 5,
) -> list[AttackRecord]:
    """Write ``variants`` attacks of every kind for every real image and video frame of
    ``sources`` into ``out/<kind>/``, and ``out/attacks.csv`` describing each file.

    ``find_face`` gives the subject's box (or None: the image is skipped): the attack shows a
    head-and-shoulders picture of that face (2.2-3.5x its box), as an attacker holding up a
    photo or a phone to a kiosk would, not the whole scene.
    """
    records: list[AttackRecord] = []
    for kind in kinds:
        (out / kind).mkdir(parents=True, exist_ok=True)
    n = 0
    for source in sources:
        for name, image in real_sources(source, video_every=video_every):
            box = find_face(image)
            if box is None:
                continue
            stem = name.replace("/", "_").rsplit(".", 1)[0]
            for kind in kinds:
                for v in range(variants):
                    attack_seed = seed * 1_000_003 + n
                    n += 1
                    scale = float(np.random.default_rng(attack_seed).uniform(2.2, 3.5))
                    picture = face_region(image, box, scale)
                    frame, record = ATTACKS[kind](picture, attack_seed)
                    file = f"{kind}/{stem}-{v}.jpg"
                    cv2.imwrite(str(out / file), frame[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 95])
                    records.append(
                        AttackRecord(
                            file,
                            kind,
                            name,
                            attack_seed,
                            round(record.tilt, 3),
                            round(record.coverage, 3),
                            record.detail,
                        )
                    )
    with open(out / "attacks.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(asdict(records[0])) if records else ["file"])
        writer.writeheader()
        for record in records:
            writer.writerow(asdict(record))
    return records
