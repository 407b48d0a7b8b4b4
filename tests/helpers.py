"""Small helpers shared by the integration tests."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from components.data.prepare import PreparedData, build_staged, commit_staged
from components.data.source import fingerprint_source, plan_source
from components.data.validation import validate_source
from components.settings import Settings


def tree_digest(folder: Path) -> str:
    """One hash over every file (path and bytes) below `folder`."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(path.relative_to(folder).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def edit_records(path: Path, change) -> None:
    records = json.loads(path.read_text())
    change(records)
    path.write_text(json.dumps(records))


def prepare_without_prefect(
    source: Path, benchmark: str, settings: Settings, tasks: list[str] | None = None
) -> PreparedData:
    """The prepare flow's steps, called directly (for tests about the components)."""
    plan = plan_source(source, tasks=tasks)
    fingerprints = fingerprint_source(plan)
    validated = validate_source(
        plan, settings.replay_per_task, settings.seed, settings.max_image_pixels
    )
    staged = build_staged(validated, fingerprints, benchmark, plan.track, settings, progress=False)
    return commit_staged(staged, settings)
