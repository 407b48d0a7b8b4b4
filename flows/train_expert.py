"""Train per-task experts: make the base available, then for each task run the expert job
(reuse the registered expert when its task data, base and settings are unchanged; otherwise
train, score and register it). Independent experts are submitted to the task runner: a
process or cluster runner (prefect-dask, prefect-ray) trains them in parallel; Prefect's default
thread runner makes them take turns (see TORCH_ON_ONE_THREAD in components/models/training.py)."""

from __future__ import annotations

import hashlib
from typing import Any

from prefect import flow, task
from prefect.context import TaskRunContext

from components.jobs.experts import expert_job_key, run_expert_job
from components.models.base import BaseRef
from components.registry.adapters import AdapterRecord
from components.settings import get_settings
from flows.base import ensure_base, prepared_tasks, store_scope


def _expert_cache_key(context: TaskRunContext, parameters: dict[str, Any]) -> str:
    """Task, data version, base hash and adapter config: the same key reuses the expert."""
    key = expert_job_key(
        get_settings(), parameters["benchmark"], parameters["name"], parameters["base"]
    )
    scoped = key.model_dump_json() + store_scope()
    return "expert-" + hashlib.sha256(scoped.encode()).hexdigest()


@task(
    name="train-expert",
    cache_key_fn=_expert_cache_key,
    persist_result=True,
    result_serializer="json",
)
def train_one_expert(
    benchmark: str, name: str, base: BaseRef, parent_run_id: str | None = None
) -> AdapterRecord:
    return run_expert_job(get_settings(), benchmark, name, base, parent_run_id)


@flow(name="train-experts")
def train_experts(
    benchmark: str, tasks: list[str] | None = None, parent_run_id: str | None = None
) -> list[AdapterRecord]:
    names = prepared_tasks(benchmark, tasks)
    base = ensure_base()
    futures = [train_one_expert.submit(benchmark, name, base, parent_run_id) for name in names]
    return [future.result() for future in futures]
