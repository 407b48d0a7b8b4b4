"""The continual loop (docs/architecture.md shows the path of a task arrival).

A task arrives: prepare its data, train its expert (earlier experts are reused untouched),
retrain the router on the replay of every seen task, evaluate the routed bundle on every seen
task, gate it against the champion, register it and promote it. A scheduled retrain re-prepares
the sources and does the same for whatever changed. A benchmark run takes a whole track through
MR-LoRA step by step and through the LoRA-FT baselines, beside the Zero-shot and Oracle rows
(on a cluster the baselines and the Zero-shot row run beside MR-LoRA's steps), and publishes
the report. Every job is keyed by its inputs (data versions, base, settings, the
records of the jobs before it) and the registry keeps what was done under each key, so a rerun
after a crash continues where it stopped and trains nothing twice.
"""

from __future__ import annotations

import time
from contextlib import AbstractContextManager
from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from components.cluster.worker import follow_assigned_cpus
from components.data.tasks import Track
from components.evaluation.report import BenchmarkResults, MethodResult, method_result
from components.jobs.job import BenchmarkScope
from components.jobs.promotion import Promotion
from components.jobs.reference_rows import ZeroShotJob, oracle_accuracies
from components.jobs.report import publish_report
from components.locking import benchmark_lock
from components.methods import METHODS
from components.methods.method import StepContext, learn_in_order
from components.methods.mr_lora import LearnedStep, MrLora, router_kinds
from components.methods.protocol import ProtocolRun, method_runs, protocol_runs, seeded_scope
from components.registry.pipeline import describe, pipeline_run, record_data
from components.registry.tracking import benchmark_experiment
from components.settings import get_settings
from components.timing import stage
from flows.jobs import RUNNER, benchmark_scope, on_cluster, prepared, start
from flows.prepare import prepare_data


@flow(name="learn-task")
def learn_task(
    benchmark: str,
    new_task: str | None,
    seen: list[str],
    evaluate_on: list[str],
    parent_run_id: str | None = None,
    compare_routers: bool = False,
) -> LearnedStep:
    """MR-LoRA's step: experts for the seen tasks (only new or changed ones train), the router
    over them, evaluation, gates and promotion; with `compare_routers`, the same experts routed
    and evaluated with the other router kind too."""
    context = StepContext(
        scope=benchmark_scope(benchmark, parent_run_id),
        tasks=seen,
        step=len(seen),
        evaluate_on=evaluate_on,
        new_task=new_task,
        compare_routers=compare_routers,
    )
    return MrLora().learn(RUNNER, context, None)


def _exclusive(benchmark: str, what: str) -> AbstractContextManager[None]:
    """One run at a time changes a benchmark; a second one waits, saying for whom."""
    return benchmark_lock(get_settings(), benchmark, what, get_run_logger().warning)


@flow(name="task-arrival")
def on_task_arrival(task: str, source: Path, benchmark: str = "domain") -> Promotion:
    with (
        _exclusive(benchmark, f"the arrival of {task}"),
        pipeline_run(benchmark_experiment(benchmark), f"arrival-{task}", get_settings()) as run,
    ):
        data = prepare_data(Path(source), benchmark, tasks=[task])
        seen = prepared(benchmark).names  # every task that has arrived, in arrival order
        record_data(run, data["prepared"].version, data["mlflow_run_id"], seen)
        promotion = on_cluster(learn_task)(benchmark, task, seen, seen, run).promoted()
        describe(run, f"## {task} arrives\n\n{promotion.summary()}")
        return promotion


@flow(name="scheduled-retrain")
def scheduled_retrain(benchmark: str = "domain", source: Path | None = None) -> Promotion:
    settings = get_settings()
    with (
        _exclusive(benchmark, "a scheduled retrain"),
        pipeline_run(benchmark_experiment(benchmark), "scheduled-retrain", settings) as run,
    ):
        seen = prepared(benchmark).names  # the tasks that have arrived, none beyond
        data = prepare_data(Path(source or settings.sources_dir / benchmark), benchmark, tasks=seen)
        record_data(run, data["prepared"].version, data["mlflow_run_id"], seen)
        promotion = on_cluster(learn_task)(benchmark, None, seen, seen, run).promoted()
        describe(run, f"## Scheduled retrain of {', '.join(seen)}\n\n{promotion.summary()}")
        return promotion


@task(name="method", task_run_name="{label}", cache_policy=NO_CACHE)
def _learn_in_order(
    method: str, scope: BenchmarkScope, run: ProtocolRun, label: str
) -> tuple[MethodResult, float]:
    """A method through the run's task order from its seed, its jobs one after another in
    this task run; with the seconds it took."""
    follow_assigned_cpus()
    timings: dict[str, float] = {}
    with stage(label, timings):
        outcomes = learn_in_order(METHODS[method], RUNNER, seeded_scope(scope, run.seed), run.tasks)
    rows = [o.accuracies() for o in outcomes]
    routed = [METHODS[method].router_accuracy(o) for o in outcomes]
    result = method_result(
        run.tasks,
        rows,
        [a or 0.0 for a in routed] if any(a is not None for a in routed) else None,
        [o.cost() for o in outcomes],
        run.seed,
        kinds=outcomes[-1].question_kinds(),
    )
    return result, timings[label]


@task(name="zero-shot", cache_policy=NO_CACHE)
def _zero_shot(scope: BenchmarkScope, tasks: list[str]) -> tuple[dict[str, float], float]:
    """The base alone on every task; with the seconds it took."""
    follow_assigned_cpus()
    timings: dict[str, float] = {}
    with stage("zero-shot", timings):
        accuracies = ZeroShotJob(scope=scope, tasks=tasks).run().accuracies()
    return accuracies, timings["zero-shot"]


@flow(name="benchmark")
def run_benchmark(
    track: Track = "domain",
    methods: list[str] | None = None,
    source: Path | None = None,
    tasks: list[str] | None = None,
    orders: int = 1,
    seeds: int = 1,
) -> BenchmarkResults:
    """Every method's runs but MR-LoRA's main one started (on a cluster they run beside what
    follows), and the Zero-shot row; MR-LoRA through the track in its own order (each step a
    task arrival with gates and promotion, evaluated on every task); then the Oracle row and
    the report. `tasks`: a subset of the track's tasks, in its order (default: all); `orders`
    and `seeds`: the protocol's runs of each method (components/methods/protocol.py)."""
    methods = methods or ["mr-lora", "lora-ft"]
    unknown = set(methods) - set(METHODS)
    if unknown:
        raise ValueError(f"unknown methods {sorted(unknown)}; choose from {', '.join(METHODS)}")
    settings = get_settings()
    timings: dict[str, float] = {}
    started = time.perf_counter()
    with (
        _exclusive(track, "a benchmark run"),
        pipeline_run(
            benchmark_experiment(track),
            f"benchmark-{track}",
            settings,
            params={"methods": ",".join(methods), "orders": orders, "seeds": seeds},
        ) as run,
    ):
        with stage("prepare and base", timings):
            data = prepare_data(Path(source or settings.sources_dir / track), track, track, tasks)
            scope = benchmark_scope(track, run)
            tasks = tasks or scope.manifest.names
            record_data(run, data["prepared"].version, data["mlflow_run_id"], tasks)
        runs = protocol_runs(tasks, orders, seeds)
        one_job = settings.cluster.per_job
        side_runs = [
            (name, r, start(_learn_in_order, one_job, name, scope, r, r.label(name)))
            for name in methods
            for r in method_runs(METHODS[name], runs)
            if not (name == MrLora.name and r.is_main)
        ]
        zero_shot = start(_zero_shot, one_job, scope, tasks)
        steps = []  # MR-LoRA: each step a task arrival, with gates and promotion
        for i, name in enumerate(tasks, start=1):
            with stage(f"mr-lora: {name} arrives", timings):
                arrival = on_cluster(learn_task)
                steps.append(arrival(track, name, tasks[:i], tasks, run, compare_routers=True))
        every: dict[str, list[MethodResult]] = {name: [] for name in methods}
        if MrLora.name in methods:
            every[MrLora.name].append(
                method_result(
                    tasks,
                    [s.accuracies() for s in steps],
                    [s.evaluation.router_accuracy or 0.0 for s in steps],
                    [s.cost() for s in steps],
                    kinds=steps[-1].question_kinds(),
                )
            )
        for name, r, side in side_runs:
            result, timings[r.label(name)] = side.result()
            every[name].append(result)
        zero, timings["zero-shot"] = zero_shot.result()
        report = BenchmarkResults(
            benchmark=track,
            tasks=tasks,
            methods={name: every[name][0] for name in methods},
            runs=every,
            oracle=oracle_accuracies(settings, steps[-1].experts),
            zero_shot=zero,
            timings=timings,
            wall_seconds=time.perf_counter() - started,
            champion=steps[-1].promoted().champion,
            routers=router_kinds(steps),
        )
        with stage("report"):
            publish_report(settings, report, run)
        return report
