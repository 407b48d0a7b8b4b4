"""The continual loop (docs/architecture.md shows the path of a task arrival).

A task arrives: prepare its data, train its expert (earlier experts are reused untouched),
retrain the router on the replay of every seen task, evaluate the routed bundle on every seen
task, gate it against the champion, register it and promote it. A scheduled retrain re-prepares
the sources and does the same for whatever changed. A benchmark run takes a whole track through
MR-LoRA step by step and through the LoRA-FT baselines, beside the Zero-shot and Oracle rows,
and publishes the report. Every step is cached on its inputs (data versions and settings), so a
rerun after a crash continues where it stopped and trains nothing twice.
"""

from __future__ import annotations

import hashlib
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.context import TaskRunContext
from pydantic import BaseModel

from components.data.build import read_manifest
from components.evaluation.report import BenchmarkResults, method_result
from components.evaluation.routed import Evaluation
from components.jobs.baselines import (
    BaselineStep,
    lora_ft_step_key,
    method_name,
    oracle_accuracies,
    run_lora_ft_step_job,
    run_zero_shot_job,
)
from components.jobs.evaluation import run_evaluation_job
from components.jobs.promotion import Promotion, run_promotion_job
from components.jobs.report import publish_report
from components.locking import benchmark_lock
from components.models.base import BaseRef
from components.registry.adapters import AdapterRecord
from components.registry.models import pipeline_run
from components.registry.tracking import benchmark_experiment
from components.settings import get_settings
from components.timing import stage
from flows.base import ensure_base, prepared_tasks, store_scope
from flows.prepare import prepare_data
from flows.train_expert import expert_per_task
from flows.train_router import train_router_task

METHODS = ("mr-lora", "lora-ft", "lora-ft-replay")


class LearnedStep(BaseModel):
    experts: list[AdapterRecord]
    router: AdapterRecord
    evaluation: Evaluation
    promotion: Promotion


def _digest(parts: list[Any]) -> str:
    return hashlib.sha256(repr(parts).encode()).hexdigest()


def _evaluation_cache_key(context: TaskRunContext, parameters: dict[str, Any]) -> str:
    """The router and experts (their keys hold data, base and settings), the test data."""
    settings = get_settings()
    manifest = read_manifest(settings.data_dir / parameters["benchmark"])
    tests = [manifest.task(t).files.get("test.parquet") for t in parameters["evaluate_on"]]
    experts = [e.key for e in parameters["experts"]]
    decoding = (settings.router_decoding, settings.seed)
    return "evaluate-" + _digest(
        [parameters["router"].key, experts, tests, decoding, store_scope()]
    )


@task(
    name="evaluate-bundle",
    cache_key_fn=_evaluation_cache_key,
    persist_result=True,
    result_serializer="json",
)
def evaluate(
    benchmark: str,
    seen: list[str],
    evaluate_on: list[str],
    router: AdapterRecord,
    experts: list[AdapterRecord],
    base: BaseRef,
    step: int,
    parent_run_id: str | None = None,
) -> Evaluation:
    return run_evaluation_job(
        get_settings(), benchmark, seen, evaluate_on, router, experts, base, step, parent_run_id
    )


@task(name="gate-and-promote")
def gate_and_promote(
    benchmark: str,
    new_task: str | None,
    seen: list[str],
    evaluation: Evaluation,
    router: AdapterRecord,
    experts: list[AdapterRecord],
    base: BaseRef,
    parent_run_id: str | None = None,
) -> Promotion:
    return run_promotion_job(
        get_settings(), benchmark, new_task, seen, evaluation, router, experts, base, parent_run_id
    )


def _lora_ft_cache_key(context: TaskRunContext, parameters: dict[str, Any]) -> str:
    previous = parameters["previous"]
    key = lora_ft_step_key(
        get_settings(),
        parameters["benchmark"],
        parameters["tasks"][parameters["step"] - 1],
        parameters["base"],
        parameters["replay"],
        previous.key if previous else "",
    )
    return f"lora-ft-{key}-" + _digest([parameters["tasks"], store_scope()])


@task(
    name="lora-ft-step",
    cache_key_fn=_lora_ft_cache_key,
    persist_result=True,
    result_serializer="json",
)
def lora_ft_step(
    benchmark: str,
    tasks: list[str],
    step: int,
    base: BaseRef,
    replay: bool,
    previous: BaselineStep | None,
    parent_run_id: str | None = None,
) -> BaselineStep:
    return run_lora_ft_step_job(
        get_settings(), benchmark, tasks, step, base, replay, previous, parent_run_id
    )


@task(name="zero-shot")
def zero_shot(
    benchmark: str, tasks: list[str], base: BaseRef, parent_run_id: str | None = None
) -> dict[str, float]:
    return run_zero_shot_job(get_settings(), benchmark, tasks, base, parent_run_id)


@task(name="oracle")
def oracle(experts: list[AdapterRecord]) -> dict[str, float]:
    return oracle_accuracies(get_settings(), experts)


@task(name="publish-report")
def publish(results: BenchmarkResults, parent_run_id: str | None = None) -> Path:
    return publish_report(get_settings(), results, parent_run_id)


@flow(name="learn-task")
def learn_task(
    benchmark: str,
    new_task: str | None,
    seen: list[str],
    evaluate_on: list[str],
    parent_run_id: str | None = None,
) -> LearnedStep:
    """Experts for the seen tasks (only new or changed ones train), the router over them,
    evaluation, gates and promotion."""
    base = ensure_base()
    step = f"{new_task or 'retrain'} (step {len(seen)})"
    with stage(f"{step}: experts"):
        experts = expert_per_task(benchmark, seen, base, parent_run_id)
    with stage(f"{step}: router"):
        router = train_router_task(benchmark, seen, experts, base, parent_run_id)
    with stage(f"{step}: evaluation"):
        evaluation = evaluate(
            benchmark, seen, evaluate_on, router, experts, base, len(seen), parent_run_id
        )
    with stage(f"{step}: gates and promotion"):
        promotion = gate_and_promote(
            benchmark, new_task, seen, evaluation, router, experts, base, parent_run_id
        )
    return LearnedStep(experts=experts, router=router, evaluation=evaluation, promotion=promotion)


def _exclusive(benchmark: str, what: str) -> AbstractContextManager[None]:
    """One run at a time changes a benchmark; a second one waits, saying for whom."""
    return benchmark_lock(get_settings(), benchmark, what, get_run_logger().warning)


@flow(name="task-arrival")
def on_task_arrival(task: str, source: Path, benchmark: str = "domain") -> Promotion:
    with (
        _exclusive(benchmark, f"the arrival of {task}"),
        pipeline_run(benchmark_experiment(benchmark), f"arrival-{task}", get_settings()) as run,
    ):
        prepare_data(Path(source), benchmark, tasks=[task])
        seen = prepared_tasks(benchmark, None)  # every task that has arrived, in arrival order
        return learn_task(benchmark, task, seen, seen, run).promotion


@flow(name="scheduled-retrain")
def scheduled_retrain(benchmark: str = "domain", source: Path | None = None) -> Promotion:
    settings = get_settings()
    with (
        _exclusive(benchmark, "a scheduled retrain"),
        pipeline_run(benchmark_experiment(benchmark), "scheduled-retrain", settings) as run,
    ):
        seen = prepared_tasks(benchmark, None)  # the tasks that have arrived, none beyond
        prepare_data(Path(source or settings.sources_dir / benchmark), benchmark, tasks=seen)
        return learn_task(benchmark, None, seen, seen, run).promotion


@flow(name="benchmark")
def run_benchmark(
    track: str = "domain",
    methods: list[str] | None = None,
    source: Path | None = None,
    tasks: list[str] | None = None,
) -> BenchmarkResults:
    """MR-LoRA through the track (each step a task arrival with gates and promotion, evaluated
    on every task), then each baseline method, the Zero-shot and Oracle rows, and the report.
    `tasks`: a subset of the track's tasks, in its order (default: all)."""
    methods = methods or ["mr-lora", "lora-ft"]
    unknown = set(methods) - set(METHODS)
    if unknown:
        raise ValueError(f"unknown methods {sorted(unknown)}; choose from {', '.join(METHODS)}")
    settings = get_settings()
    timings: dict[str, float] = {}
    with (
        _exclusive(track, "a benchmark run"),
        pipeline_run(benchmark_experiment(track), f"benchmark-{track}", settings) as run,
    ):
        with stage("prepare and base", timings):
            prepare_data(Path(source or settings.sources_dir / track), track, track, tasks)
            tasks = prepared_tasks(track, tasks)
            base = ensure_base()
        steps = []
        for i, name in enumerate(tasks, start=1):
            with stage(f"mr-lora: {name} arrives", timings):
                steps.append(learn_task(track, name, tasks[:i], tasks, run))
        results = {}
        if "mr-lora" in methods:
            results["mr-lora"] = method_result(
                tasks,
                [s.evaluation.accuracies() for s in steps],
                [s.evaluation.router_accuracy for s in steps],
            )
        for replay in (False, True):
            method = method_name(replay)
            if method in methods:
                with stage(method, timings):
                    previous, rows = None, []
                    for step in range(1, len(tasks) + 1):
                        previous = lora_ft_step(track, tasks, step, base, replay, previous, run)
                        rows.append(previous.accuracies)
                results[method] = method_result(tasks, rows)
        with stage("zero-shot", timings):
            zero = zero_shot(track, tasks, base, run)
        report = BenchmarkResults(
            benchmark=track,
            tasks=tasks,
            methods=results,
            oracle=oracle(steps[-1].experts),
            zero_shot=zero,
            timings=timings,
            champion=steps[-1].promotion.champion,
        )
        with stage("report"):
            publish(report, run)
        return report
