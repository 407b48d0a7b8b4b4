"""Train per-task experts: make the base available, then run each task's expert job (the
registered expert when its task data, base and settings are unchanged; else trained, scored and
registered). A process or cluster task runner (Prefect's ProcessPoolTaskRunner, prefect-dask,
prefect-ray) trains independent experts in parallel."""

from __future__ import annotations

from prefect import flow

from components.jobs.experts import ExpertJob
from components.registry.adapters import AdapterRecord
from flows.jobs import RUNNER, benchmark_scope


@flow(name="train-experts")
def train_experts(
    benchmark: str, tasks: list[str] | None = None, parent_run_id: str | None = None
) -> list[AdapterRecord]:
    scope = benchmark_scope(benchmark, parent_run_id)
    names = tasks or scope.manifest.names
    return RUNNER.run_all([ExpertJob(scope=scope, task=name) for name in names])
