"""The preparation steps behind `mllmcl prepare`: build validated tasks into a staging folder,
then swap them into data/ and version it with DVC as one step that rolls back on any failure,
so a failed preparation never damages the version already prepared."""

from __future__ import annotations

import json
import shutil
import time
import uuid
from pathlib import Path

import datasets
from pydantic import BaseModel
from tqdm import tqdm

from components.data.build import MANIFEST_FILE, Manifest, build_task, is_current, read_manifest
from components.data.problems import Problem, SourceValidationError
from components.data.tasks import Track
from components.data.validation import ValidatedTask
from components.data.versioning import commit_data
from components.locking import data_lock
from components.settings import Settings

DVC_FILE_BACKUP = "data.dvc.backup"
SWAP_JOURNAL = "swapped.json"  # what a swap moves in, so that a rollback can take it out


class StagedData(BaseModel):
    benchmark: str
    staging: Path
    manifest: Manifest
    built: list[str]
    unchanged: list[str]


class PreparedData(BaseModel):
    benchmark: str
    version: str
    data_dir: Path
    manifest: Manifest
    built: list[str]
    unchanged: list[str]


def _runs(settings: Settings, benchmark: str) -> Path:
    """Each preparation stages into a folder of its own under this one."""
    return settings.staging_dir / "runs" / benchmark


def _new_run(settings: Settings, benchmark: str) -> Path:
    run = _runs(settings, benchmark) / f"{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:8]}"
    (run / "build").mkdir(parents=True)
    return run


def build_staged(
    tasks: list[ValidatedTask],
    fingerprints: dict[str, str],
    benchmark: str,
    track: Track | None,
    settings: Settings,
    progress: bool = True,
) -> StagedData:
    """Build every task whose source changed into a staging folder of this run's own; data/ is
    not touched. The caller holds the benchmark's lock (components/locking.py)."""
    restore_interrupted(settings, benchmark)
    target = settings.data_dir / benchmark
    existing = read_manifest(target)
    if existing is not None and track and existing.track and existing.track != track:
        raise SourceValidationError(
            [
                Problem(
                    target / MANIFEST_FILE,
                    f"benchmark {benchmark!r} is the {existing.track} "
                    f"track; this source is the {track} track",
                )
            ]
        )
    staging = _new_run(settings, benchmark) / "build"
    entries = {t.spec.name: t for t in existing.tasks} if existing else {}
    built, unchanged = [], []
    datasets.disable_progress_bars()
    for task in tqdm(tasks, desc=f"building {benchmark}", disable=not progress):
        name = task.spec.name
        if is_current(entries.get(name), fingerprints[name], target / name):
            unchanged.append(name)
            continue
        entries[name] = build_task(task, fingerprints[name], staging / name)
        built.append(name)
    manifest = Manifest(
        benchmark=benchmark,
        track=track or (existing.track if existing else None),
        tasks=list(entries.values()),  # earlier tasks keep their place; new ones append
    )
    manifest.write(staging)
    return StagedData(
        benchmark=benchmark, staging=staging, manifest=manifest, built=built, unchanged=unchanged
    )


def commit_staged(staged: StagedData, settings: Settings) -> PreparedData:
    """Swap the staged tasks into data/ and `dvc add` it; on any failure put everything back.
    The data lock keeps other benchmarks' preparations out of data/ meanwhile."""
    target = settings.data_dir / staged.benchmark
    backup = staged.staging.parent / "backup"
    with data_lock(settings, f"versioning {staged.benchmark}"):
        backup.mkdir()
        if settings.dvc_file.is_file():
            shutil.copy2(settings.dvc_file, backup / DVC_FILE_BACKUP)
        target.mkdir(parents=True, exist_ok=True)
        swapped = [*staged.built, MANIFEST_FILE]
        journal = {"swapped": swapped, "had_dvc_file": settings.dvc_file.is_file()}
        (backup / SWAP_JOURNAL).write_text(json.dumps(journal), encoding="utf-8")
        try:
            for name in swapped:
                if (target / name).exists():
                    (target / name).rename(backup / name)
                (staged.staging / name).rename(target / name)
            version = commit_data(settings.home, settings.data_dir)
        except BaseException:
            restore_interrupted(settings, staged.benchmark)
            raise
    shutil.rmtree(staged.staging.parent)
    return PreparedData(
        benchmark=staged.benchmark,
        version=version,
        data_dir=settings.data_dir,
        manifest=staged.manifest,
        built=staged.built,
        unchanged=staged.unchanged,
    )


def restore_interrupted(settings: Settings, benchmark: str) -> None:
    """Undo a half-done swap (a failure now, or a crash last time): whatever was swapped in is
    removed, the backed-up tasks, manifest and data.dvc go back in place. The staging folders of
    runs that died are removed. The caller holds the benchmark's lock."""
    runs = _runs(settings, benchmark)
    if not runs.is_dir():
        return
    with data_lock(settings, f"restoring {benchmark}"):
        for journal in sorted(runs.glob(f"*/backup/{SWAP_JOURNAL}")):
            _undo_swap(settings, benchmark, journal.parent)
        shutil.rmtree(runs)


def _undo_swap(settings: Settings, benchmark: str, backup: Path) -> None:
    target = settings.data_dir / benchmark
    record = json.loads((backup / SWAP_JOURNAL).read_text(encoding="utf-8"))
    for name in record["swapped"]:
        swapped_in = target / name
        if swapped_in.is_dir():
            shutil.rmtree(swapped_in)
        elif swapped_in.exists():
            swapped_in.unlink()
        if (backup / name).exists():
            (backup / name).rename(swapped_in)
    if record["had_dvc_file"]:
        shutil.copy2(backup / DVC_FILE_BACKUP, settings.dvc_file)
    else:
        settings.dvc_file.unlink(missing_ok=True)
    (backup / SWAP_JOURNAL).unlink()
