"""``lockers dataset import-kface``: a K-Face release → the folder-per-person tree ``train`` reads.

The walk and the filters run here (:mod:`lockers.training.kface_layout`); the pixels are done
by worker processes (spawned, one detector each; :mod:`lockers.training.kface_worker`). Every
finished image, written or rejected, is appended to a journal in DST, so a second run skips it
and an interrupted import resumes where it stopped. The report covers the whole import, all
runs together, plus the speed of the last run.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lockers.training.dataset import DatasetError
from lockers.training.kface_layout import AxisFilter, KFaceImage, scan_kface
from lockers.training.kface_report import import_report
from lockers.training.kface_worker import (
    ImageOutcome,
    ImportOptions,
    KFaceFaceMaker,
    init_worker,
    process_chunk,
)

if TYPE_CHECKING:
    from lockers.config import Settings

JOURNAL_NAME = "kface-import.jsonl"
REPORT_NAME = "kface-import-report.json"
CHUNK = 8
"""Images per worker task: enough to hide the round trip, few enough for a smooth ETA."""

Progress = Callable[[int, int], None]


@dataclass
class KFaceImportResult:
    report: dict[str, Any]
    report_path: Path


def _fingerprint(settings: Settings, options: ImportOptions) -> dict[str, Any]:
    """What decides the faces an image gives: a journal made under other values is not resumed."""
    detection = settings.detection.model_dump(mode="json")
    detection.pop("threads", None)
    return {
        "options": asdict(options),
        "detection": detection,
        "quality": settings.quality.model_dump(mode="json"),
    }


def _read_journal(path: Path, fingerprint: dict[str, Any]) -> dict[str, ImageOutcome]:
    if not path.is_file():
        return {}
    done: dict[str, ImageOutcome] = {}
    with path.open(encoding="utf-8") as fh:
        for number, line in enumerate(fh, start=1):
            try:
                data = json.loads(line)
            except ValueError:
                continue  # a line cut short by a power cut: that image is simply redone
            if number == 1:
                if data.get("settings") != fingerprint:
                    raise DatasetError(
                        f"{path.parent} holds an import made with other settings (mode, gate, "
                        "box format, detection or quality gate)",
                        hint="import into a new folder, or pass --restart to redo every image",
                    )
                continue
            outcome = ImageOutcome.from_json(data)
            done[outcome.rel] = outcome
    return done


def _run_in_process(
    maker: KFaceFaceMaker, images: list[KFaceImage]
) -> Iterator[list[ImageOutcome]]:
    for start in range(0, len(images), CHUNK):
        yield [maker.process(image) for image in images[start : start + CHUNK]]


def _run_in_pool(
    settings: Settings,
    src: Path,
    dst: Path,
    options: ImportOptions,
    images: list[KFaceImage],
    workers: int,
) -> Iterator[list[ImageOutcome]]:
    import multiprocessing

    chunks = [images[i : i + CHUNK] for i in range(0, len(images), CHUNK)]
    pool = ProcessPoolExecutor(
        max_workers=workers,
        mp_context=multiprocessing.get_context("spawn"),  # no forked ONNX/OpenCV thread state
        initializer=init_worker,
        initargs=(settings, src, dst, options),
    )
    try:
        pending: set[Future[list[ImageOutcome]]] = set()
        queue = iter(chunks)
        # A bounded window: millions of images must not become millions of futures at once.
        for chunk in queue:
            pending.add(pool.submit(process_chunk, chunk))
            if len(pending) >= workers * 4:
                break
        while pending:
            finished, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in finished:
                yield future.result()
                nxt = next(queue, None)
                if nxt is not None:
                    pending.add(pool.submit(process_chunk, nxt))
    except BrokenProcessPool:
        pool.shutdown(wait=False, cancel_futures=True)
        raise DatasetError(
            "an import worker process died (out of memory, or killed)",
            hint="run the same command again: finished images are kept and skipped; "
            "fewer --workers need less memory",
        ) from None
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown(wait=True)


def _worker_settings(settings: Settings, workers: int) -> Settings:
    """Each worker gets an equal share of the cores for its detector (at least one thread)."""
    threads = max(1, (os.cpu_count() or 1) // workers)
    detection = settings.detection.model_copy(update={"threads": threads})
    return settings.model_copy(update={"detection": detection})


def import_kface(
    src: Path,
    dst: Path,
    settings: Settings,
    keep: AxisFilter | None = None,
    options: ImportOptions | None = None,
    workers: int = 1,
    restart: bool = False,
    progress: Progress | None = None,
) -> KFaceImportResult:
    """Import the images of ``src`` that ``keep`` selects into ``dst/<person>/<S_L_E_C>.png``.

    ``workers`` > 1 uses that many spawned processes; 1 works in this process. Images already
    in the journal of ``dst`` are skipped unless ``restart``.

    Raises:
        DatasetError: ``src`` is not in the K-Face layout, the filters select nothing, ``dst``
            lies inside ``src``, or ``dst`` holds an import made with other settings.
    """
    options = options or ImportOptions()
    src, dst = _checked_folders(src, dst, options, workers)
    keep = keep or AxisFilter()
    scan = scan_kface(src, keep)
    if not scan.selected:
        raise DatasetError(
            f"the filters leave no image of {src} ({scan.filtered_total} left out)",
            hint="widen --accessories / --lux / --expressions / --angles",
        )
    dst.mkdir(parents=True, exist_ok=True)
    fingerprint = _fingerprint(settings, options)
    journal_path = dst / JOURNAL_NAME
    done = {} if restart else _read_journal(journal_path, fingerprint)
    todo = [
        image
        for image in scan.selected
        if image.rel not in done
        or (done[image.rel].written and not (dst / image.person / image.out_name).is_file())
    ]
    skipped = len(scan.selected) - len(todo)
    if restart or not journal_path.is_file():
        journal_path.write_text(json.dumps({"settings": fingerprint}) + "\n", encoding="utf-8")
    job = _ImportRun(settings, src, dst, options, workers, journal_path)
    speed = job.process(todo, done, progress)
    report = import_report(scan, done, keep, options, src, dst, skipped, speed)
    report_path = dst / REPORT_NAME
    report_path.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", "utf-8")
    return KFaceImportResult(report, report_path)


def _checked_folders(
    src: Path, dst: Path, options: ImportOptions, workers: int
) -> tuple[Path, Path]:
    """``src`` and ``dst`` resolved, after checking the options and that ``dst`` lies outside
    ``src``."""
    if options.mode not in ("aligned", "crop"):
        raise DatasetError(f"mode {options.mode!r} is not 'aligned' or 'crop'")
    if workers < 1:
        raise DatasetError(f"--workers {workers}: need at least 1")
    src, dst = Path(src).resolve(), Path(dst).resolve()
    if dst == src or src in dst.parents:
        raise DatasetError(
            f"the output folder {dst} is inside the K-Face folder {src}",
            hint="write the imported faces to a separate folder",
        )
    return src, dst


@dataclass
class _ImportRun:
    """One run over the images still to do: in this process or a pool, journalled as it goes."""

    settings: Settings
    src: Path
    dst: Path
    options: ImportOptions
    workers: int
    journal_path: Path

    def process(
        self, todo: list[KFaceImage], done: dict[str, ImageOutcome], progress: Progress | None
    ) -> dict[str, Any]:
        """Process ``todo``, adding each outcome to ``done`` and the journal; the run's speed."""
        started = time.perf_counter()
        first_result_at: float | None = None
        processed = 0
        worker_seconds = 0.0
        workers = self.workers
        if progress:
            progress(0, len(todo))
        if todo:
            workers = min(workers, -(-len(todo) // CHUNK))  # no idle worker start-ups
            with self.journal_path.open("a", encoding="utf-8") as journal:
                for batch in self._batches(todo, workers):
                    if first_result_at is None:
                        first_result_at = time.perf_counter()
                    for outcome in batch:
                        done[outcome.rel] = outcome
                        worker_seconds += outcome.seconds
                        journal.write(json.dumps(outcome.to_json()) + "\n")
                    journal.flush()
                    processed += len(batch)
                    if progress:
                        progress(processed, len(todo))
        wall = time.perf_counter() - started
        return {
            "workers": workers,
            "cpu_count": os.cpu_count(),
            "images_processed": processed,
            "wall_s": round(wall, 3),
            "images_per_s": round(processed / wall, 2) if processed and wall > 0 else None,
            "images_per_s_after_startup": _rate_after_startup(processed, started, first_result_at),
            "ms_per_image_in_worker": (
                round(1e3 * worker_seconds / processed, 2) if processed else None
            ),
        }

    def _batches(self, todo: list[KFaceImage], workers: int) -> Iterator[list[ImageOutcome]]:
        if workers == 1:
            maker = KFaceFaceMaker(self.settings, self.src, self.dst, self.options)
            return _run_in_process(maker, todo)
        settings = _worker_settings(self.settings, workers)
        return _run_in_pool(settings, self.src, self.dst, self.options, todo, workers)


def _rate_after_startup(processed: int, started: float, first: float | None) -> float | None:
    """Images per second from the first finished chunk on (worker start-up not counted)."""
    if first is None or processed <= CHUNK:
        return None
    elapsed = time.perf_counter() - first
    return round((processed - CHUNK) / elapsed, 2) if elapsed > 0 else None
