"""The K-Face folder layout (AI Hub "한국인 안면 이미지"): finding, filtering and box files.

A release is one folder per person, then accessory set / light level / expression / camera::

    SRC/<person>/S001/L1/E01/C7.jpg      (+ C7.txt beside some images: the face box)

- ``S001``-``S006``: accessory sets (S001 plain, then glasses, hats, ...);
- ``L1``-``L30``: light levels (L1 brightest; high numbers are near darkness);
- ``E01``-``E03``: expressions;
- ``C1``-``C20``: camera angles (frontal ones in the middle; C1-C3 and C18-C20 far profile).

No numpy, no OpenCV: file lists and text parsing only, so the scan runs in the main process
while the workers do the pixels.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from lockers.training.dataset import IMAGE_SUFFIXES, DatasetError

AXES = ("accessory", "lux", "expression", "angle")
"""The four axes of the layout, outermost first."""
AXIS_PREFIX = {"accessory": "S", "lux": "L", "expression": "E", "angle": "C"}
AXIS_FLAG = {
    "accessory": "--accessories",
    "lux": "--lux",
    "expression": "--expressions",
    "angle": "--angles",
}
_AXIS_PATTERN = {
    axis: re.compile(rf"^{p}(\d{{1,3}})$", re.IGNORECASE) for axis, p in AXIS_PREFIX.items()
}
EXPECTED_LAYOUT = "SRC/<person>/S001-S006/L1-L30/E01-E03/C1-C20.jpg (box files C1-C20.txt beside)"


def axis_number(axis: str, name: str) -> int | None:
    """``"S002"`` → 2 for the accessory axis; None when ``name`` is not a value of ``axis``."""
    match = _AXIS_PATTERN[axis].match(name)
    return int(match.group(1)) if match else None


def parse_axis_filter(axis: str, text: str | None) -> frozenset[int] | None:
    """``"C4-C10,C14"`` → {4..10, 14}; prefixes are optional (``"4-10"``); None keeps all.

    Raises:
        DatasetError: a part is not a value or range of this axis (the message names the flag).
    """
    if text is None or not text.strip():
        return None
    prefix, flag = AXIS_PREFIX[axis], AXIS_FLAG[axis]
    value = rf"{prefix}?(\d{{1,3}})"
    part_re = re.compile(rf"^{value}(?:-{value})?$", re.IGNORECASE)
    wanted: set[int] = set()
    for part in (p.strip() for p in text.split(",")):
        match = part_re.match(part)
        if not match:
            raise DatasetError(
                f"{flag} {text!r}: {part!r} is not a {axis} value or range",
                hint=f"write values and ranges like {prefix}1,{prefix}3-{prefix}5",
            )
        low = int(match.group(1))
        high = int(match.group(2)) if match.group(2) else low
        if high < low:
            raise DatasetError(
                f"{flag} {text!r}: the range {part!r} runs backwards",
                hint=f"write the smaller value first: {prefix}{high}-{prefix}{low}",
            )
        wanted.update(range(low, high + 1))
    return frozenset(wanted)


@dataclass(frozen=True)
class AxisFilter:
    """Which values of each axis to import (None: all)."""

    accessory: frozenset[int] | None = None
    lux: frozenset[int] | None = None
    expression: frozenset[int] | None = None
    angle: frozenset[int] | None = None

    @classmethod
    def parse(
        cls,
        accessories: str | None = None,
        lux: str | None = None,
        expressions: str | None = None,
        angles: str | None = None,
    ) -> AxisFilter:
        return cls(
            parse_axis_filter("accessory", accessories),
            parse_axis_filter("lux", lux),
            parse_axis_filter("expression", expressions),
            parse_axis_filter("angle", angles),
        )

    def keeps(self, axis: str, number: int) -> bool:
        wanted: frozenset[int] | None = getattr(self, axis)
        return wanted is None or number in wanted

    def describe(self) -> dict[str, list[int] | None]:
        return {
            axis: sorted(v) if (v := getattr(self, axis)) is not None else None for axis in AXES
        }


@dataclass(frozen=True)
class KFaceImage:
    """One image of the tree: its path relative to SRC and its place on every axis."""

    rel: str  # person/S001/L1/E01/C7.jpg
    person: str
    accessory: str  # "S001", as named on disk
    lux: str
    expression: str
    angle: str

    @property
    def box_rel(self) -> str:
        """The box file that may sit beside the image (``C7.txt``)."""
        return str(Path(self.rel).with_suffix(".txt").as_posix())

    @property
    def out_name(self) -> str:
        """File name in the person's output folder: ``S001_L1_E01_C7.png``."""
        return f"{self.accessory}_{self.lux}_{self.expression}_{self.angle}.png"

    def value(self, axis: str) -> str:
        return str(getattr(self, axis))


@dataclass
class KFaceScan:
    """What the walk over SRC found.

    ``selected``: images passing the filters, in path order. ``filtered``: axis → value → images
    the filters left out. ``ignored``: entries that are not part of the layout (relative path →
    why); ``people``: every person folder that holds K-Face sub-folders.
    """

    root: Path
    selected: list[KFaceImage] = field(default_factory=list)
    filtered: dict[str, dict[str, int]] = field(default_factory=lambda: {a: {} for a in AXES})
    ignored: dict[str, str] = field(default_factory=dict)
    people: list[str] = field(default_factory=list)

    @property
    def filtered_total(self) -> int:
        return sum(sum(v.values()) for v in self.filtered.values())


def _dirs(path: Path) -> list[os.DirEntry[str]]:
    with os.scandir(path) as it:
        return sorted((e for e in it if not e.name.startswith(".")), key=lambda e: e.name)


def _count_images(path: str) -> int:
    count = 0
    for _root, _subdirs, files in os.walk(path):
        count += sum(1 for f in files if Path(f).suffix.lower() in IMAGE_SUFFIXES)
    return count


def scan_kface(root: Path, keep: AxisFilter | None = None) -> KFaceScan:
    """Walk ``root`` in the K-Face layout and select the images ``keep`` allows.

    Folders a filter leaves out are not opened image by image, only counted. Entries that do not
    fit the layout are listed in :attr:`KFaceScan.ignored`, never fatal.

    Raises:
        DatasetError: ``root`` is missing, or nothing under it has the K-Face layout (the
            message says what was expected and what was found).
    """
    keep = keep or AxisFilter()
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(
            f"K-Face folder {root} does not exist", hint=f"pass the release root: {EXPECTED_LAYOUT}"
        )
    scan = KFaceScan(root)
    for person in _dirs(root):
        if not person.is_dir():
            scan.ignored[person.name] = "not a person folder (a file at the top level)"
            continue
        if _scan_person(scan, person, keep):
            scan.people.append(person.name)
        elif person.name not in scan.ignored:
            scan.ignored[person.name] = "no accessory folders (S001…) inside"
    if not scan.people:
        raise DatasetError(
            f"{root} is not a K-Face release: expected {EXPECTED_LAYOUT}; "
            f"found {_describe_top(root)}",
            hint="pass the folder that holds one folder per person (e.g. .../Middle_Resolution)"
            + ("; it looks like one person's folder: pass its parent" if _is_person(root) else ""),
        )
    scan.selected.sort(key=lambda image: natural_key(image.rel))
    return scan


_LEVELS = ("accessory", "lux", "expression")
"""The folder levels above the camera images, outermost first."""

_Folder = tuple[Path, tuple[str, ...]]
"""A folder to walk and the level values (S001, L1, E01) on the way to it."""


def _scan_person(scan: KFaceScan, person: os.DirEntry[str], keep: AxisFilter) -> bool:
    """Walk one person's folder into ``scan``; whether it holds any folder of the layout."""
    found_any = False
    stack: list[_Folder] = [(Path(person.path), ())]
    while stack:
        folder, values = stack.pop()
        entries = _dirs(folder)
        rel_folder = Path(person.name, *values).as_posix()
        if len(values) < len(_LEVELS):
            found, children = _scan_level(scan, keep, entries, rel_folder, values)
            found_any = found_any or found
            stack.extend(children)
        else:
            _scan_images(scan, keep, entries, rel_folder, person.name, values)
    return found_any


def _scan_level(
    scan: KFaceScan,
    keep: AxisFilter,
    entries: list[os.DirEntry[str]],
    rel_folder: str,
    values: tuple[str, ...],
) -> tuple[bool, list[_Folder]]:
    """The sub-folders of one level: whether any fits the layout, and those the filter keeps
    (filtered ones are only counted)."""
    depth = len(values)
    axis = _LEVELS[depth]
    found = False
    children: list[_Folder] = []
    for entry in reversed(entries):
        number = axis_number(axis, entry.name) if entry.is_dir() else None
        if number is None:
            if depth > 0 or entry.is_dir():
                scan.ignored[f"{rel_folder}/{entry.name}"] = (
                    f"not a {axis} folder ({AXIS_PREFIX[axis]}…)"
                )
            continue
        found = True
        if not keep.keeps(axis, number):
            counts = scan.filtered[axis]
            counts[entry.name] = counts.get(entry.name, 0) + _count_images(entry.path)
            continue
        children.append((Path(entry.path), (*values, entry.name)))
    return found, children


def _scan_images(
    scan: KFaceScan,
    keep: AxisFilter,
    entries: list[os.DirEntry[str]],
    rel_folder: str,
    person: str,
    values: tuple[str, ...],
) -> None:
    """The camera images (C1-C20) of one expression folder, selected or counted as filtered."""
    for entry in entries:
        suffix = Path(entry.name).suffix.lower()
        if entry.is_dir() or suffix == ".txt":
            if entry.is_dir():
                scan.ignored[f"{rel_folder}/{entry.name}"] = "unexpected folder"
            continue
        if suffix not in IMAGE_SUFFIXES:
            scan.ignored[f"{rel_folder}/{entry.name}"] = "not an image"
            continue
        stem = Path(entry.name).stem
        number = axis_number("angle", stem)
        if number is None:
            scan.ignored[f"{rel_folder}/{entry.name}"] = "not a camera image (C1-C20)"
            continue
        if not keep.keeps("angle", number):
            counts = scan.filtered["angle"]
            counts[stem] = counts.get(stem, 0) + 1
            continue
        accessory, lux, expression = values
        scan.selected.append(
            KFaceImage(f"{rel_folder}/{entry.name}", person, accessory, lux, expression, stem)
        )


def _is_person(folder: Path) -> bool:
    return any(axis_number("accessory", e.name) is not None for e in _dirs(folder) if e.is_dir())


def _describe_top(root: Path) -> str:
    entries = [e.name + ("/" if e.is_dir() else "") for e in _dirs(root)]
    if not entries:
        return "an empty folder"
    shown = ", ".join(entries[:5]) + (f" and {len(entries) - 5} more" if len(entries) > 5 else "")
    return f"{shown} (no <person>/S001/… folders)"


def natural_key(text: str) -> list[object]:
    """Sort key putting C2 before C10."""
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", text)]


# ----------------------------------------------------------------------------- box files

_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")


@dataclass(frozen=True)
class BoxAnnotation:
    """A face box from a K-Face text file, in image pixels ``(x1, y1, x2, y2)``; landmarks when
    the release has them (read to validate the file; the kiosk's detector places its own)."""

    box: tuple[float, float, float, float]
    landmark_count: int = 0


class BoxFileError(ValueError):
    """A box text file that cannot be read as a face box (the message says why)."""


def parse_box_text(text: str, box_format: str = "xywh") -> BoxAnnotation:
    """Read a K-Face box file.

    Accepted: the first line holding exactly 4 numbers is the box (optionally after a label,
    ``bbox: 10 20 100 120``; separators spaces, tabs or commas), read as ``x y width height``
    (``box_format="xyxy"``: two corners). Further lines of numbers are landmarks (x y pairs,
    one or several per line). Lines without numbers (headers) are skipped.

    Raises:
        BoxFileError: no box line, a non-numeric value on a number line, or a box with
            non-positive width or height.
    """
    if box_format not in ("xywh", "xyxy"):
        raise ValueError(f"box format must be 'xywh' or 'xyxy', got {box_format!r}")
    box: tuple[float, float, float, float] | None = None
    landmarks = 0
    for number, line in enumerate(text.splitlines(), start=1):
        body = line.split(":", 1)[1] if ":" in line else line
        values = _NUMBER.findall(body)
        if not values:
            continue
        rest = _NUMBER.sub("", body).replace(",", " ").strip()
        if rest:
            raise BoxFileError(f"line {number} mixes numbers and text: {line.strip()!r}")
        floats = [float(v) for v in values]
        if box is None:
            if len(floats) != 4:
                raise BoxFileError(
                    f"line {number} has {len(floats)} numbers, a box needs 4 ({box_format})"
                )
            a, b, c, d = floats
            x1, y1, x2, y2 = (a, b, a + c, b + d) if box_format == "xywh" else (a, b, c, d)
            if not (x2 > x1 and y2 > y1):
                raise BoxFileError(f"line {number}: the box {floats} has no area ({box_format})")
            box = (x1, y1, x2, y2)
        elif len(floats) % 2:
            raise BoxFileError(f"line {number}: landmarks need x y pairs, got {len(floats)}")
        else:
            landmarks += len(floats) // 2
    if box is None:
        raise BoxFileError("no line with a box (4 numbers)")
    return BoxAnnotation(box, landmarks)


def read_box_file(path: Path, box_format: str = "xywh") -> BoxAnnotation | None:
    """The box file ``path`` parsed, or None when there is none.

    Raises:
        BoxFileError: the file exists but cannot be decoded or parsed.
    """
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise BoxFileError(f"cannot read: {exc.strerror}") from None
    for encoding in ("utf-8-sig", "cp949"):  # Korean Windows tools write CP949
        try:
            return parse_box_text(raw.decode(encoding), box_format)
        except UnicodeDecodeError:
            continue
    raise BoxFileError("not a text file (neither UTF-8 nor CP949)")


def axis_values(images: Iterable[KFaceImage], axis: str) -> list[str]:
    """The distinct values of ``axis`` among ``images``, in natural order."""
    return sorted({image.value(axis) for image in images}, key=natural_key)
