"""Train per-task experts: make the base available, then for each task run the expert job
(reuse the registered expert when its task data, base and settings are unchanged; otherwise
train, score and register it). A process or cluster task runner (Prefect's
ProcessPoolTaskRunner, prefect-dask, prefect-ray) trains independent experts in parallel."""

from __future__ import annotations

import hashlib
from typing import Any

from prefect import flow, task
from prefect.context import FlowRunContext, TaskRunContext
from prefect.task_runners import ThreadPoolTaskRunner

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


def expert_per_task(
    benchmark: str, names: list[str], base: BaseRef, parent_run_id: str | None
) -> list[AdapterRecord]:
    """Each task's expert. A process or cluster task runner gets them all at once and trains
    them in parallel; under Prefect's default thread runner they train one after the other on
    the flow's own thread (threads of one process take turns anyway, and slow each other down:
    see TORCH_ON_ONE_THREAD in components/models/training.py)."""
    if isinstance(FlowRunContext.get().task_runner, ThreadPoolTaskRunner):
        return [train_one_expert(benchmark, name, base, parent_run_id) for name in names]
    futures = [train_one_expert.submit(benchmark, name, base, parent_run_id) for name in names]
    return [future.result() for future in futures]


@flow(name="train-experts")
def train_experts(
    benchmark: str, tasks: list[str] | None = None, parent_run_id: str | None = None
) -> list[AdapterRecord]:
    names = prepared_tasks(benchmark, tasks)
    return expert_per_task(benchmark, names, ensure_base(), parent_run_id)
