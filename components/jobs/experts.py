"""The expert job: reuse the registered expert whose task data, base and settings match, or train
a LoRA from the base on the task's data alone, score it on its own test split and register it."""

from __future__ import annotations

from components.data.build import Manifest, TaskEntry, read_manifest
from components.data.versioning import data_version
from components.models.adapters import adapter_folder
from components.models.base import BaseRef
from components.models.experts import (
    ExpertKey,
    evaluate_adapter,
    expert_key,
    expert_settings,
    train_expert,
)
from components.registry.adapters import AdapterRecord, record, reuse
from components.registry.models import MlflowLossCallback, expert_model_name, tracked_run
from components.registry.tracking import benchmark_experiment, configure_tracking
from components.settings import Settings


def prepared_task(settings: Settings, benchmark: str, task: str) -> tuple[Manifest, TaskEntry]:
    manifest = read_manifest(settings.data_dir / benchmark)
    entry = manifest.task(task) if manifest else None
    if entry is None:
        raise ValueError(f"task {task!r} is not prepared in benchmark {benchmark!r}: run prepare")
    return manifest, entry


def expert_job_key(settings: Settings, benchmark: str, task: str, base: BaseRef) -> ExpertKey:
    manifest, entry = prepared_task(settings, benchmark, task)
    return expert_key(
        benchmark, entry, base, expert_settings(settings.expert_preset, manifest.track)
    )


def run_expert_job(
    settings: Settings, benchmark: str, task: str, base: BaseRef, parent_run_id: str | None = None
) -> AdapterRecord:
    configure_tracking(settings)
    manifest, entry = prepared_task(settings, benchmark, task)
    adapter = expert_settings(settings.expert_preset, manifest.track)
    key = expert_key(benchmark, entry, base, adapter).digest()
    name = expert_model_name(benchmark, task)
    folder = adapter_folder(settings.models_dir, benchmark, key, task)
    known = reuse(name, key, folder)
    if known is not None:
        return known
    device = {"dtype": settings.dtype, "device": settings.device}
    with tracked_run(
        benchmark_experiment(benchmark),
        f"expert-{task}",
        "expert",
        settings,
        parent_run_id,
        tags={"task": task},
    ):
        run = train_expert(
            settings.data_dir,
            benchmark,
            task,
            base,
            adapter,
            folder,
            callbacks=[MlflowLossCallback()],
            **device,
        )
        oracle = evaluate_adapter(
            settings.data_dir, manifest, [task], base, folder, name, **device
        ).scores[task]
        return record(
            name,
            key,
            run,
            params={
                "task": task,
                "preset": settings.expert_preset,
                "adapter": adapter.model_dump(mode="json"),
                "base": base.name_or_path,
                "base_digest": base.digest,
                "task_data_version": entry.content_hash,
                "data_version": data_version(settings.dvc_file) or "unversioned",
            },
            metrics={"test_accuracy": oracle.accuracy},
            tags={"task": task, "data_version": entry.content_hash, "base_digest": base.digest},
            description=f"MR-LoRA expert for {task}: {entry.spec.description}",
        )
