"""Retrain the router: make sure every expert of the pool exists (trained or reused), run the
router job over them (the cumulative replay of every task seen so far, the prompt listing the
current pool, registration with the expert versions it routes to), then evaluate the routed
bundle on the pool's tasks, which measures how well it routes."""

from __future__ import annotations

from prefect import flow
from pydantic import BaseModel

from components.evaluation.routed import Evaluation
from components.jobs.evaluation import EvaluationJob
from components.jobs.router import RouterJob
from components.registry.adapters import AdapterRecord
from flows.jobs import RUNNER, benchmark_scope, on_cluster
from flows.train_expert import train_experts


class RoutedPool(BaseModel):
    experts: list[AdapterRecord]
    router: AdapterRecord
    evaluation: Evaluation


@flow(name="train-router")
def train_router(
    benchmark: str, tasks: list[str] | None = None, parent_run_id: str | None = None
) -> RoutedPool:
    scope = benchmark_scope(benchmark, parent_run_id)
    names = tasks or scope.manifest.names
    experts = on_cluster(train_experts)(benchmark, names, parent_run_id)
    router = RUNNER.run(RouterJob(scope=scope, experts=experts))
    evaluation = RUNNER.run(
        EvaluationJob(scope=scope, router=router, experts=experts, evaluate_on=names)
    )
    return RoutedPool(experts=experts, router=router, evaluation=evaluation)
