"""Per-task experts: which settings a task's expert trains with, what identifies a trained one
(so an unchanged task reuses it), and how it scores on its own test split (its Oracle row)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path

from peft import PeftModel
from pydantic import BaseModel
from transformers import LlavaForConditionalGeneration

from components.data.build import Manifest, TaskEntry, load_split
from components.evaluation.routed import Evaluation, evaluate_model
from components.models.base.loading import BaseRef, load_base
from components.models.generation import generate_answers
from components.models.lora.adapters import AdapterRun, load_adapters, train_adapter
from components.models.lora.settings import EXPERT_PRESETS, AdapterSettings
from components.models.samples import training_samples


class ExpertKey(BaseModel, frozen=True):
    """Everything an expert depends on; equal keys mean the registered expert can be reused."""

    benchmark: str
    task: str
    data: str  # the task's content hash in the manifest
    base: str  # the base's digest
    config: str  # digest of the adapter settings

    def digest(self) -> str:
        return hashlib.sha256(self.model_dump_json().encode()).hexdigest()[:16]


def expert_settings(preset: str, track: str | None) -> AdapterSettings:
    """The preset; on the ability track the vision tower is adapted too (docs/method.md)."""
    settings = EXPERT_PRESETS[preset]
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
    samples = training_samples(load_split(data_dir, benchmark, task, "train"))
    return train_adapter(
        base.name_or_path,
        samples,
        settings,
        out,
        callbacks=callbacks,
        progress=progress,
        dtype=dtype,
        device=device,
    )


def evaluate_adapter(
    data_dir: Path,
    manifest: Manifest,
    tasks: Sequence[str],
    base: BaseRef,
    adapter: Path | None,
    model_id: str,
    dtype: str = "auto",
    device: str = "auto",
) -> Evaluation:
    """Score the base with `adapter` (or the base alone: Zero-shot) on the tasks' test splits."""
    model: LlavaForConditionalGeneration | PeftModel
    if adapter is None:
        model, processor = load_base(base.name_or_path, dtype, device)
    else:
        model, processor = load_adapters(base.name_or_path, {"adapter": adapter}, dtype, device)
    return evaluate_model(
        lambda samples: generate_answers(model, processor, samples),
        data_dir,
        manifest,
        tasks,
        model_id,
    )
