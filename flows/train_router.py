"""Retrain the router: make sure every expert of the pool exists (trained or reused), run the
router job over them (the cumulative replay of every task seen so far, the prompt listing the
current pool, registration with the expert versions it routes to), then evaluate the routed
bundle on the pool's tasks, which measures how well it routes."""

from __future__ import annotations

from prefect import flow
from pydantic import BaseModel

from components.data.build import Manifest
from components.evaluation.routed import Evaluation
from components.jobs.evaluation import EvaluationJob
from components.jobs.router import RouterJob
from components.models.base import BaseRef
from components.registry.adapters import AdapterRecord
from components.settings import get_settings
from flows.base import ensure_base, prepared, run_job
from flows.train_expert import expert_per_task


class RoutedPool(BaseModel):
    experts: list[AdapterRecord]
    router: AdapterRecord
    evaluation: Evaluation


def router_over(
    manifest: Manifest, experts: list[AdapterRecord], base: BaseRef, parent_run_id: str | None
) -> AdapterRecord:
    job = RouterJob(
        settings=get_settings(),
        manifest=manifest,
        parent_run_id=parent_run_id,
        experts=experts,
        base=base,
    )
    return run_job(job)


def evaluate_routed(
    manifest: Manifest,
    router: AdapterRecord,
    experts: list[AdapterRecord],
    evaluate_on: list[str],
    base: BaseRef,
    parent_run_id: str | None,
) -> Evaluation:
    job = EvaluationJob(
        settings=get_settings(),
        manifest=manifest,
        parent_run_id=parent_run_id,
        router=router,
        experts=experts,
        evaluate_on=evaluate_on,
        base=base,
    )
    return run_job(job)


@flow(name="train-router")
def train_router(
    benchmark: str, tasks: list[str] | None = None, parent_run_id: str | None = None
) -> RoutedPool:
    manifest = prepared(benchmark)
    names = tasks or manifest.names
    base = ensure_base()
    experts = expert_per_task(manifest, names, base, parent_run_id)
    router = router_over(manifest, experts, base, parent_run_id)
    evaluation = evaluate_routed(manifest, router, experts, names, base, parent_run_id)
    return RoutedPool(experts=experts, router=router, evaluation=evaluation)
