"""The continual loop (docs/architecture.md shows the path of a task arrival).

A task arrives: prepare its data, train its expert (earlier experts are reused untouched),
retrain the router on the replay of every seen task, evaluate the routed bundle on every seen
task, gate it against the champion, register it and promote it. A scheduled retrain re-prepares
the sources and does the same for whatever changed. A benchmark run takes a whole track through
MR-LoRA step by step and through the LoRA-FT baselines, beside the Zero-shot and Oracle rows,
and publishes the report. Every job is keyed by its inputs (data versions, base, settings, the
records of the jobs before it) and the registry keeps what was done under each key, so a rerun
after a crash continues where it stopped and trains nothing twice.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from pathlib import Path

from prefect import flow, get_run_logger
from pydantic import BaseModel

from components.data.build import Manifest
from components.data.tasks import Track
from components.evaluation.report import BenchmarkResults, method_result
from components.evaluation.routed import Evaluation
from components.jobs.baselines import (
    BaselineStep,
    LoraFtStepJob,
    ZeroShotJob,
    method_name,
    oracle_accuracies,
)
from components.jobs.promotion import Promotion, PromotionJob
from components.jobs.report import publish_report
from components.locking import benchmark_lock
from components.models.base import BaseRef
from components.registry.adapters import AdapterRecord
from components.registry.models import pipeline_run
from components.registry.tracking import benchmark_experiment
from components.settings import get_settings
from components.timing import stage
from flows.base import ensure_base, prepared, run_job
from flows.prepare import prepare_data
from flows.train_expert import expert_per_task
from flows.train_router import evaluate_routed, router_over

METHODS = ("mr-lora", "lora-ft", "lora-ft-replay")


class LearnedStep(BaseModel):
    experts: list[AdapterRecord]
    router: AdapterRecord
    evaluation: Evaluation
    promotion: Promotion


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
    manifest, base = prepared(benchmark), ensure_base()
    step = f"{new_task or 'retrain'} (step {len(seen)})"
    with stage(f"{step}: experts"):
        experts = expert_per_task(manifest, seen, base, parent_run_id)
    with stage(f"{step}: router"):
        router = router_over(manifest, experts, base, parent_run_id)
    with stage(f"{step}: evaluation"):
        evaluation = evaluate_routed(manifest, router, experts, evaluate_on, base, parent_run_id)
    with stage(f"{step}: gates and promotion"):
        promotion = run_job(
            PromotionJob(
                settings=get_settings(),
                manifest=manifest,
                parent_run_id=parent_run_id,
                new_task=new_task,
                evaluation=evaluation,
                router=router,
                experts=experts,
                base=base,
            )
        )
    return LearnedStep(experts=experts, router=router, evaluation=evaluation, promotion=promotion)


def lora_ft(
    manifest: Manifest, tasks: list[str], base: BaseRef, replay: bool, parent_run_id: str
) -> list[dict[str, float]]:
    """The accuracy rows of LoRA-FT through the tasks: each step continues the previous one."""
    steps: list[BaselineStep] = []
    for step in range(1, len(tasks) + 1):
        job = LoraFtStepJob(
            settings=get_settings(),
            manifest=manifest,
            parent_run_id=parent_run_id,
            tasks=tasks,
            step=step,
            base=base,
            replay=replay,
            previous=steps[-1] if steps else None,
        )
        steps.append(run_job(job))
    return [s.accuracies for s in steps]


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
        seen = prepared(benchmark).names  # every task that has arrived, in arrival order
        return learn_task(benchmark, task, seen, seen, run).promotion


@flow(name="scheduled-retrain")
def scheduled_retrain(benchmark: str = "domain", source: Path | None = None) -> Promotion:
    settings = get_settings()
    with (
        _exclusive(benchmark, "a scheduled retrain"),
        pipeline_run(benchmark_experiment(benchmark), "scheduled-retrain", settings) as run,
    ):
        seen = prepared(benchmark).names  # the tasks that have arrived, none beyond
        prepare_data(Path(source or settings.sources_dir / benchmark), benchmark, tasks=seen)
        return learn_task(benchmark, None, seen, seen, run).promotion


@flow(name="benchmark")
def run_benchmark(
    track: Track = "domain",
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
            manifest = prepared(track)
            tasks = tasks or manifest.names
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
                [s.evaluation.router_accuracy or 0.0 for s in steps],
            )
        for replay in (False, True):
            method = method_name(replay)
            if method in methods:
                with stage(method, timings):
                    results[method] = method_result(
                        tasks, lora_ft(manifest, tasks, base, replay, run)
                    )
        with stage("zero-shot", timings):
            zero = run_job(
                ZeroShotJob(
                    settings=settings, manifest=manifest, parent_run_id=run, tasks=tasks, base=base
                )
            )
        report = BenchmarkResults(
            benchmark=track,
            tasks=tasks,
            methods=results,
            oracle=oracle_accuracies(settings, steps[-1].experts),
            zero_shot=zero.accuracies(),
            timings=timings,
            champion=steps[-1].promotion.champion,
        )
        with stage("report"):
            publish_report(settings, report, run)
        return report
