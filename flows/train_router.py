"""Retrain the router: make sure every expert of the pool exists (trained or reused), then run
the router job over them: the cumulative replay of every task seen so far, the prompt listing
the current pool, routing accuracy per task and a confusion matrix, registration with the
expert versions it routes to."""

from __future__ import annotations

from prefect import flow, task

from components.jobs.router import run_router_job
from components.models.base import BaseRef
from components.registry.adapters import AdapterRecord
from components.settings import get_settings
from flows.base import ensure_base, prepared_tasks
from flows.train_expert import train_experts


@task(name="train-router")
def train_router_task(
    benchmark: str,
    tasks: list[str],
    experts: list[AdapterRecord],
    base: BaseRef,
    parent_run_id: str | None = None,
) -> AdapterRecord:
    return run_router_job(get_settings(), benchmark, tasks, experts, base, parent_run_id)


@flow(name="train-router")
def train_router(
    benchmark: str, tasks: list[str] | None = None, parent_run_id: str | None = None
) -> AdapterRecord:
    names = prepared_tasks(benchmark, tasks)
    experts = train_experts(benchmark, names, parent_run_id)
    return train_router_task(benchmark, names, experts, ensure_base(), parent_run_id)
