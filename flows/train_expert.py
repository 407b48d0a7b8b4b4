"""Train per-task experts: make the base available, then run each task's expert job (the
registered expert when its task data, base and settings are unchanged; else trained, scored and
registered). A process or cluster task runner (Prefect's ProcessPoolTaskRunner, prefect-dask,
prefect-ray) trains independent experts in parallel."""

from __future__ import annotations

from prefect import flow
from prefect.context import FlowRunContext
from prefect.task_runners import ThreadPoolTaskRunner

from components.data.build import Manifest
from components.jobs.experts import ExpertJob
from components.models.base import BaseRef
from components.registry.adapters import AdapterRecord
from components.settings import get_settings
from flows.base import ensure_base, prepared, run_job, submit_job


def expert_per_task(
    manifest: Manifest, names: list[str], base: BaseRef, parent_run_id: str | None
) -> list[AdapterRecord]:
    """Each task's expert. A process or cluster task runner gets them all at once and trains
    them in parallel; under Prefect's default thread runner they train one after the other on
    the flow's own thread (threads of one process take turns anyway, and slow each other down:
    see TORCH_ON_ONE_THREAD in components/models/training.py)."""
    jobs = [
        ExpertJob(
            settings=get_settings(),
            manifest=manifest,
            parent_run_id=parent_run_id,
            task=name,
            base=base,
        )
        for name in names
    ]
    context = FlowRunContext.get()
    if context is None or isinstance(context.task_runner, ThreadPoolTaskRunner):
        return [run_job(job) for job in jobs]
    return [future.result() for future in [submit_job(job) for job in jobs]]


@flow(name="train-experts")
def train_experts(
    benchmark: str, tasks: list[str] | None = None, parent_run_id: str | None = None
) -> list[AdapterRecord]:
    manifest = prepared(benchmark)
    return expert_per_task(manifest, tasks or manifest.names, ensure_base(), parent_run_id)
