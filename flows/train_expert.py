"""Train per-task experts: for each task, reuse the registered expert when its task data, base
and settings are unchanged; otherwise train a LoRA from the base on that task's data alone,
score it on its own test split, and register it. Independent experts run concurrently through
the flow's task runner."""

from __future__ import annotations

import hashlib
from typing import Any

from prefect import flow, task
from prefect.context import TaskRunContext

from components.data.build import read_manifest
from components.data.versioning import data_version
from components.models.base import BaseRef
from components.models.experts import (
    evaluate_adapter,
    expert_key,
    expert_settings,
    train_expert,
)
from components.registry.adapters import AdapterRecord, record, reuse
from components.registry.models import (
    MlflowLossCallback,
    expert_model_name,
    tracked_run,
)
from components.registry.tracking import benchmark_experiment, configure_tracking
from components.settings import get_settings
from flows.base import ensure_base


def _manifest_entry(benchmark: str, name: str):
    settings = get_settings()
    manifest = read_manifest(settings.data_dir / benchmark)
    entry = manifest.task(name) if manifest else None
    if entry is None:
        raise ValueError(f"task {name!r} is not prepared in benchmark {benchmark!r}: run prepare")
    return manifest, entry


def _expert_cache_key(context: TaskRunContext, parameters: dict[str, Any]) -> str:
    """Task, data version, base hash and adapter config: the same key reuses the expert."""
    settings = get_settings()
    manifest, entry = _manifest_entry(parameters["benchmark"], parameters["name"])
    adapter = expert_settings(settings.expert_preset, manifest.track)
    key = expert_key(parameters["benchmark"], entry, parameters["base"], adapter)
    return "expert-" + hashlib.sha256(key.model_dump_json().encode()).hexdigest()


@task(
    name="train-expert",
    cache_key_fn=_expert_cache_key,
    persist_result=True,
    result_serializer="json",
)
def train_one_expert(
    benchmark: str, name: str, base: BaseRef, parent_run_id: str | None = None
) -> AdapterRecord:
    settings = get_settings()
    configure_tracking(settings)
    manifest, entry = _manifest_entry(benchmark, name)
    adapter = expert_settings(settings.expert_preset, manifest.track)
    key = expert_key(benchmark, entry, base, adapter)
    registered = expert_model_name(benchmark, name)
    folder = settings.models_dir / benchmark / "experts" / name / key.digest()
    known = reuse(registered, key.digest(), folder)
    if known is not None:
        return known
    with tracked_run(
        benchmark_experiment(benchmark),
        f"expert-{name}",
        "expert",
        settings,
        parent_run_id,
        tags={"task": name},
    ):
        run = train_expert(
            settings.data_dir,
            benchmark,
            name,
            base,
            adapter,
            folder,
            callbacks=[MlflowLossCallback()],
            dtype=settings.dtype,
            device=settings.device,
        )
        oracle = evaluate_adapter(
            settings.data_dir,
            benchmark,
            entry,
            base,
            folder,
            registered,
            dtype=settings.dtype,
            device=settings.device,
        )
        return record(
            registered,
            key.digest(),
            run,
            params={
                "task": name,
                "preset": settings.expert_preset,
                "adapter": adapter.model_dump(mode="json"),
                "base": base.name_or_path,
                "base_digest": base.digest,
                "task_data_version": entry.content_hash,
                "data_version": data_version(settings.dvc_file) or "unversioned",
            },
            metrics={"test_accuracy": oracle.accuracy},
            tags={"task": name, "data_version": entry.content_hash, "base_digest": base.digest},
            description=f"MR-LoRA expert for {name}: {entry.spec.description}",
        )


@flow(name="train-experts")
def train_experts(
    benchmark: str, tasks: list[str] | None = None, parent_run_id: str | None = None
) -> list[AdapterRecord]:
    settings = get_settings()
    manifest = read_manifest(settings.data_dir / benchmark)
    if manifest is None:
        raise ValueError(f"benchmark {benchmark!r} is not prepared: run prepare first")
    names = tasks or [t.spec.name for t in manifest.tasks]
    base = ensure_base()
    futures = [train_one_expert.submit(benchmark, name, base, parent_run_id) for name in names]
    return [future.result() for future in futures]
