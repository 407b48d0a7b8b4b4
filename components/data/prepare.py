"""The preparation steps behind `mllmcl prepare`: build validated tasks into a staging folder,
then swap them into data/ and version it with DVC as one step that rolls back on any failure,
so a failed preparation never damages the version already prepared."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import datasets
from pydantic import BaseModel
from tqdm import tqdm

from components.data.build import MANIFEST_FILE, Manifest, build_task, is_current, read_manifest
from components.data.problems import Problem, SourceValidationError
from components.data.tasks import Track
from components.data.validation import ValidatedTask
from components.data.versioning import commit_data
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


def _staging(settings: Settings, benchmark: str) -> Path:
    return settings.staging_dir / benchmark


def _backup(settings: Settings, benchmark: str) -> Path:
    return settings.staging_dir / f"{benchmark}.backup"


def build_staged(
    tasks: list[ValidatedTask],
    fingerprints: dict[str, str],
    benchmark: str,
    track: Track | None,
    settings: Settings,
    progress: bool = True,
) -> StagedData:
    """Build every task whose source changed into the staging folder; data/ is not touched."""
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
    staging = _staging(settings, benchmark)
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
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
    """Swap the staged tasks into data/ and `dvc add` it; on any failure put everything back."""
    target = settings.data_dir / staged.benchmark
    backup = _backup(settings, staged.benchmark)
    shutil.rmtree(backup, ignore_errors=True)
    backup.mkdir(parents=True)
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
    shutil.rmtree(backup)
    shutil.rmtree(staged.staging, ignore_errors=True)
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
    removed, the backed-up tasks, manifest and data.dvc go back in place."""
    backup = _backup(settings, benchmark)
    journal = backup / SWAP_JOURNAL
    if not journal.is_file():
        shutil.rmtree(backup, ignore_errors=True)
        return
    target = settings.data_dir / benchmark
    record = json.loads(journal.read_text(encoding="utf-8"))
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
    shutil.rmtree(backup)
