"""Face datasets on disk: folder-per-person trees, identity splits and pairs files.

A dataset is a folder with one sub-folder per identity holding that person's images
(``root/<identity>/<image>``). No torch here: these are file lists, used by training,
evaluation and the ``lockers dataset`` commands.
"""

from __future__ import annotations

import csv
import json
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lockers.errors import ImageError, LockersError

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp"})


class DatasetError(LockersError):
    """A dataset folder, split file or pairs file is missing, empty or malformed."""


@dataclass(frozen=True)
class FaceIndex:
    """Images of a folder-per-person tree.

    ``paths[i]`` is relative to ``root`` and shows identity ``identities[labels[i]]``;
    identities are sorted by folder name, so labels are stable across runs.
    """

    root: Path
    identities: tuple[str, ...]
    paths: tuple[str, ...]
    labels: tuple[int, ...]

    def __len__(self) -> int:
        return len(self.paths)

    def images_of(self) -> dict[int, list[int]]:
        """Label → indices of that identity's images."""
        out: dict[int, list[int]] = {}
        for i, label in enumerate(self.labels):
            out.setdefault(label, []).append(i)
        return out

    def subset(self, identities: set[str]) -> FaceIndex:
        """Only the given identities, relabelled 0..k-1 in name order."""
        kept = tuple(sorted(set(self.identities) & identities))
        relabel = {self.identities.index(name): new for new, name in enumerate(kept)}
        rows = [
            (p, relabel[lab])
            for p, lab in zip(self.paths, self.labels, strict=True)
            if lab in relabel
        ]
        return FaceIndex(self.root, kept, tuple(p for p, _ in rows), tuple(lab for _, lab in rows))


def scan_identity_tree(root: Path, min_images: int = 1) -> FaceIndex:
    """Index ``root/<identity>/<image>``; identities with fewer than ``min_images`` are skipped.

    Raises:
        DatasetError: ``root`` is not a folder or holds no usable images.
    """
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(
            f"dataset folder {root} does not exist",
            hint="pass a folder with one sub-folder of images per person",
        )
    identities: list[str] = []
    paths: list[str] = []
    labels: list[int] = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        images = sorted(
            f for f in folder.iterdir() if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES
        )
        if len(images) < min_images:
            continue
        label = len(identities)
        identities.append(folder.name)
        for image in images:
            paths.append(image.relative_to(root).as_posix())
            labels.append(label)
    if not paths:
        raise DatasetError(
            f"no images found under {root} (looked for {', '.join(sorted(IMAGE_SUFFIXES))} "
            f"in sub-folders with at least {min_images} image(s))",
            hint="lay the dataset out as ROOT/<person>/<image>.jpg",
        )
    return FaceIndex(root, tuple(identities), tuple(paths), tuple(labels))


def load_rgb(path: Path, size: int | None = None) -> np.ndarray:
    """An image file as ``(h, w, 3)`` uint8 RGB, resized to ``size``x``size`` when given.

    Raises:
        ImageError: the file is missing or cannot be decoded.
    """
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            rgb = img.convert("RGB")
            if size is not None and rgb.size != (size, size):
                rgb = rgb.resize((size, size), Image.Resampling.BILINEAR)
            return np.array(rgb, dtype=np.uint8)  # a writable copy (torch.from_numpy needs one)
    except FileNotFoundError:
        raise ImageError(f"image {path} does not exist") from None
    except (UnidentifiedImageError, OSError) as exc:
        raise ImageError(
            f"cannot decode image {path}: {exc}", hint="re-export it as JPEG or PNG"
        ) from None


# ----------------------------------------------------------------------------- identity split


@dataclass(frozen=True)
class IdentitySplit:
    """Disjoint train and validation identities (nobody appears in both)."""

    train: tuple[str, ...]
    val: tuple[str, ...]

    def save(self, path: Path) -> None:
        path.write_text(
            json.dumps({"train": list(self.train), "val": list(self.val)}, indent=2) + "\n",
            encoding="utf-8",
        )

    @classmethod
    def load(cls, path: Path) -> IdentitySplit:
        """Raises: DatasetError when the file is missing or not a split written by ``save``."""
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
            return cls(tuple(data["train"]), tuple(data["val"]))
        except FileNotFoundError:
            raise DatasetError(f"split file {path} does not exist") from None
        except (ValueError, KeyError, TypeError) as exc:
            raise DatasetError(
                f"split file {path} is not a split: {exc}",
                hint="create it with `lockers dataset split`",
            ) from None


def split_by_identity(
    index: FaceIndex, val_fraction: float = 0.2, seed: int = 0, min_val_images: int = 2
) -> IdentitySplit:
    """Random identity-disjoint split; only identities with ``min_val_images`` can go to val
    (a validation identity must give at least one genuine pair). At least two identities go to
    each side when there are four or more.

    Raises:
        DatasetError: the fraction is out of range or leaves one side empty.
    """
    if not 0.0 < val_fraction < 1.0:
        raise DatasetError(f"validation fraction must be in (0, 1), got {val_fraction}")
    counts = {name: 0 for name in index.identities}
    for label in index.labels:
        counts[index.identities[label]] += 1
    eligible = sorted(n for n, c in counts.items() if c >= min_val_images)
    # At least two validation identities, or there are no impostor pairs to validate on.
    n_val = round(len(index.identities) * val_fraction)
    n_val = min(max(n_val, 2), len(eligible), len(index.identities) - 2)
    rng = random.Random(seed)
    val = set(rng.sample(eligible, n_val)) if n_val else set()
    train = tuple(n for n in index.identities if n not in val)
    if not train or not val:
        raise DatasetError(
            f"cannot split {len(index.identities)} identities ({len(eligible)} with "
            f">= {min_val_images} images) into non-empty train and validation sets",
            hint="add more people or change --val-fraction",
        )
    return IdentitySplit(train, tuple(sorted(val)))


# ----------------------------------------------------------------------------- pairs


@dataclass(frozen=True)
class Pair:
    """Two image paths (relative to an images root) and whether they show the same person."""

    a: str
    b: str
    same: bool


def generate_pairs(index: FaceIndex, n_genuine: int, n_impostor: int, seed: int = 0) -> list[Pair]:
    """Up to ``n_genuine`` same-person and ``n_impostor`` different-person pairs, no repeats.

    Genuine pairs are drawn from all within-identity pairs, impostor pairs uniformly over pairs
    of images of different identities.
    """
    rng = random.Random(seed)
    genuine_all = [
        (idx[i], idx[j])
        for idx in index.images_of().values()
        for i in range(len(idx))
        for j in range(i + 1, len(idx))
    ]
    genuine = rng.sample(genuine_all, min(n_genuine, len(genuine_all)))
    n = len(index)
    max_impostor = (
        sum(1 for i in range(n) for j in range(i + 1, n) if index.labels[i] != index.labels[j])
        if n <= 3000
        else n_impostor
    )
    wanted = min(n_impostor, max_impostor)
    impostor: set[tuple[int, int]] = set()
    while len(impostor) < wanted:
        i, j = rng.randrange(n), rng.randrange(n)
        if index.labels[i] != index.labels[j]:
            impostor.add((min(i, j), max(i, j)))
    pairs = [Pair(index.paths[i], index.paths[j], True) for i, j in genuine]
    pairs += [Pair(index.paths[i], index.paths[j], False) for i, j in sorted(impostor)]
    return pairs


def write_pairs_csv(pairs: list[Pair], path: Path) -> None:
    """Write ``a,b,same`` rows (same = 1 or 0)."""
    with Path(path).open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["a", "b", "same"])
        for pair in pairs:
            writer.writerow([pair.a, pair.b, int(pair.same)])


def read_pairs(path: Path) -> list[Pair]:
    """Read a pairs file: CSV with header ``a,b,same``, or LFW ``pairs.txt``.

    LFW lines are ``name i j`` (same person, images ``name/name_000i.jpg``) or
    ``name1 i name2 j`` (different people); an optional first line gives folds and set size.

    Raises:
        DatasetError: with the line number of the first malformed line.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DatasetError(f"pairs file {path} does not exist") from None
    lines = text.splitlines()
    if not lines:
        raise DatasetError(f"pairs file {path} is empty")
    header = [c.strip().lower() for c in lines[0].split(",")]
    pairs = (
        _read_csv_pairs(path, lines)
        if header[:3] == ["a", "b", "same"]
        else (_read_lfw_pairs(path, lines))
    )
    if not pairs:
        raise DatasetError(f"pairs file {path} holds no pairs")
    return pairs


def _read_csv_pairs(path: Path, lines: list[str]) -> list[Pair]:
    pairs = []
    for number, row in enumerate(csv.reader(lines[1:]), start=2):
        if not row or not "".join(row).strip():
            continue
        if len(row) < 3 or row[2].strip() not in {"0", "1"}:
            raise DatasetError(
                f"{path}, line {number}: expected 'a,b,same' with same = 0 or 1, got {row}",
                hint="fix or delete that line",
            )
        pairs.append(Pair(row[0].strip(), row[1].strip(), row[2].strip() == "1"))
    return pairs


def _lfw_path(name: str, number: str) -> str:
    return f"{name}/{name}_{int(number):04d}.jpg"


def _read_lfw_pairs(path: Path, lines: list[str]) -> list[Pair]:
    pairs = []
    for number, line in enumerate(lines, start=1):
        parts = line.split()
        try:
            if not parts or (number == 1 and all(p.isdigit() for p in parts)):
                continue
            if len(parts) == 3:
                a, b = _lfw_path(parts[0], parts[1]), _lfw_path(parts[0], parts[2])
                pairs.append(Pair(a, b, True))
            elif len(parts) == 4:
                pairs.append(
                    Pair(_lfw_path(parts[0], parts[1]), _lfw_path(parts[2], parts[3]), False)
                )
            else:
                raise ValueError("expected 3 or 4 fields")
        except ValueError as exc:
            raise DatasetError(
                f"{path}, line {number}: not a CSV 'a,b,same' header nor an LFW pairs line "
                f"({exc}): {line!r}",
                hint="use a CSV with header a,b,same or the LFW pairs.txt format",
            ) from None
    return pairs
