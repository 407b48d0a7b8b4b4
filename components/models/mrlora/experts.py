"""Per-task experts: which settings a task's expert trains with, what identifies a trained one
(so an unchanged task reuses it), and its training on the task's data alone."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from pydantic import BaseModel

from components.data.build import TaskEntry
from components.models.base.loading import BaseRef
from components.models.lora.adapters import AdapterRun, train_adapter
from components.models.lora.settings import EXPERT_PRESETS, AdapterSettings, seeded
from components.models.samples import task_samples


class ExpertKey(BaseModel, frozen=True):
    """Everything an expert depends on; equal keys mean the registered expert can be reused."""

    benchmark: str
    task: str
    data: str  # the task's content hash in the manifest
    base: str  # the base's digest
    config: str  # digest of the adapter settings

    def digest(self) -> str:
        return hashlib.sha256(self.model_dump_json().encode()).hexdigest()[:16]


def expert_settings(preset: str, track: str | None, seed: int = 0) -> AdapterSettings:
    """The preset, trained from `seed`; on the ability track the vision tower is adapted too
    (docs/method.md)."""
    settings = seeded(EXPERT_PRESETS[preset], seed)
    return settings.model_copy(update={"vision": track == "ability"})


def config_digest(settings: AdapterSettings) -> str:
    payload = json.dumps(settings.model_dump(mode="json"), sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def expert_key(
    benchmark: str, entry: TaskEntry, base: BaseRef, settings: AdapterSettings
) -> ExpertKey:
    return ExpertKey(
        benchmark=benchmark,
        task=entry.spec.name,
        data=entry.content_hash,
        base=base.digest,
        config=config_digest(settings),
    )


def train_expert(
    data_dir: Path,
    benchmark: str,
    task: str,
    base: BaseRef,
    settings: AdapterSettings,
    out: Path,
    callbacks=(),
    progress: bool = True,
    dtype: str = "auto",
    device: str = "auto",
) -> AdapterRun:
    """Train one task's expert from the base on that task's train split alone."""
    return train_adapter(
        base.name_or_path,
        task_samples(data_dir, benchmark, task),
        settings,
        out,
        callbacks=callbacks,
        progress=progress,
        dtype=dtype,
        device=device,
    )
