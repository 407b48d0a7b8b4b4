"""Finding the tasks of an MLLM-CL source folder and fingerprinting their content."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from pydantic import BaseModel, ValidationError

from components.data.layout import BENCHMARK_FILE, TEST_FILE, TRAIN_FILE
from components.data.problems import Problem, SourceValidationError
from components.data.tasks import KNOWN_TASKS, TRACK_ORDER, TaskSpec, Track


class SourcePlan(BaseModel):
    """Which tasks of a source to ingest, in order, with their specs."""

    root: Path
    track: Track | None
    tasks: list[TaskSpec]


def _benchmark_file(root: Path) -> tuple[Track | None, list[TaskSpec]] | None:
    path = root / BENCHMARK_FILE
    if not path.is_file():
        return None
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
        specs = [TaskSpec.model_validate(entry) for entry in payload.get("tasks", [])]
    except (json.JSONDecodeError, UnicodeDecodeError, ValidationError, AttributeError) as error:
        raise SourceValidationError(
            [Problem(path, f"not a valid benchmark file: {error}")]
        ) from None
    return payload.get("track"), specs


def _task_folders(root: Path) -> list[str]:
    return sorted(
        p.name
        for p in root.iterdir()
        if p.is_dir() and ((p / TRAIN_FILE).exists() or (p / TEST_FILE).exists())
    )


def plan_source(
    root: Path, track: Track | None = None, tasks: list[str] | None = None
) -> SourcePlan:
    """Tasks come from `tasks`, else benchmark.json's order, else the track's order, else the
    folders found. Specs come from benchmark.json, else the built-in MLLM-CL tasks."""
    root = root.resolve()
    if not root.is_dir():
        raise SourceValidationError([Problem(root, "source folder not found")])
    declared = _benchmark_file(root)
    specs = dict(KNOWN_TASKS)
    if declared is not None:
        declared_track, declared_specs = declared
        if track is not None and declared_track not in (None, track):
            raise SourceValidationError(
                [Problem(root / BENCHMARK_FILE, f"track is {declared_track!r}, not {track!r}")]
            )
        track = track or declared_track
        specs |= {spec.name: spec for spec in declared_specs}
    found = _task_folders(root)
    if tasks:
        names = tasks
    elif declared is not None and declared[1]:
        names = [spec.name for spec in declared[1]]
    elif track is not None:
        names = [name for name in TRACK_ORDER[track] if name in found]
    else:
        names = found
    problems = [
        Problem(root / name, "task folder not found (expected train.json and test.json)")
        for name in names
        if name not in found
    ]
    problems += [
        Problem(
            root / name, "unknown task: describe it in benchmark.json (track, scorer, description)"
        )
        for name in names
        if name in found and name not in specs
    ]
    if not names:
        problems.append(Problem(root, "no task folders (with train.json / test.json) found"))
    if problems:
        raise SourceValidationError(problems)
    return SourcePlan(root=root, track=track, tasks=[specs[name] for name in names])


def fingerprint_task(folder: Path, spec: TaskSpec) -> str:
    """SHA-256 over the task spec and every file under the task folder (path and bytes)."""
    digest = hashlib.sha256(spec.model_dump_json().encode())
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(path.relative_to(folder).as_posix().encode() + b"\0")
        with path.open("rb") as handle:
            digest.update(hashlib.file_digest(handle, "sha256").digest())
    return digest.hexdigest()


def fingerprint_source(plan: SourcePlan) -> dict[str, str]:
    return {spec.name: fingerprint_task(plan.root / spec.name, spec) for spec in plan.tasks}
