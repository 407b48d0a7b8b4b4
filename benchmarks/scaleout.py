"""Experts one after another against experts as Ray tasks, or against experts each trained by
Ray Train workers (prints figures; not a test).

    .venv/bin/python benchmarks/scaleout.py --prepared data --track domain [--workers 2]
    .venv/bin/python benchmarks/scaleout.py --prepared data --tasks RS --train-workers 2

Each side trains the same experts (the configured preset, the shipped tiny base) from nothing
into a fresh project home, under a temporary Prefect server: first with the local runner (one
after another on the flow's thread, torch on every core: the default), then the same on one
thread (what each Ray worker below gets), then on a local Ray cluster of `--workers` one-CPU
workers (each job asks for one CPU; torch follows with one thread). Printed: each side's wall
time and the Ray side's ratio to each local one, each expert's own run time (its MLflow run),
and the time each side spends outside the experts' runs, per expert: the wall time less the runs'
makespan (on the Ray side: the makespan its runs would have on its workers, in submission
order). That time holds the base job, the lookups and Prefect's task runs on both sides; what
the Ray side spends beyond the local one is Ray's overhead (connecting, starting workers and
importing the libraries in them, moving jobs and results).

With `--train-workers N` the Ray side trains each expert on N one-CPU Ray Train workers
(data-parallel, gloo), one expert after another; what its runs take beyond the local ones is
Ray Train's cost per expert (its controller, the workers and their process group) less what
the N workers gain.
"""

from __future__ import annotations

import argparse
import heapq
import os
import tempfile
import time
from pathlib import Path

import torch
from mlflow import MlflowClient
from prefect.testing.utilities import prefect_test_harness

from cli.output import pipeline_output
from components.settings import Settings, get_settings
from flows.jobs import on_cluster
from flows.train_expert import train_experts


def _train(home: Path, prepared: Path, track: str, tasks: list[str] | None, env: dict[str, str]):
    """The experts trained in a fresh `home`: wall seconds and each expert's run seconds."""
    home.mkdir()
    (home / "prefect.yaml").write_text("name: scaleout\n")
    os.environ.pop("MLFLOW_TRACKING_URI", None)  # set by the side before (mlflow.set_tracking_uri)
    os.environ |= {"MLLMCL_HOME": str(home), "MLLMCL_DATA_DIR": str(prepared), **env}
    get_settings.cache_clear()
    settings: Settings = get_settings()
    start = time.perf_counter()
    experts = on_cluster(train_experts)(track, tasks)
    wall = time.perf_counter() - start
    client = MlflowClient(settings.resolved_tracking_uri)
    runs = {}
    for expert in experts:
        version = client.get_model_version(expert.name, expert.version)
        info = client.get_run(version.run_id).info
        runs[expert.task] = (info.end_time - info.start_time) / 1000
    return wall, runs


def makespan(durations: list[float], workers: int) -> float:
    """When the last job ends if each starts on the first free worker, in order."""
    free = [0.0] * workers
    for duration in durations:
        heapq.heappush(free, heapq.heappop(free) + duration)
    return max(free)


def _ray_env(cpus: int, train_workers: int = 1) -> dict[str, str]:
    return {
        "MLLMCL_CLUSTER__RUNNER": "ray",
        "MLLMCL_CLUSTER__LOCAL_CPUS": str(cpus),
        "MLLMCL_CLUSTER__CPUS_PER_JOB": "1",
        "MLLMCL_CLUSTER__TRAIN_WORKERS": str(train_workers),
    }


def compare_parallel_experts(scratch: Path, prepared: Path, args: argparse.Namespace) -> list[str]:
    tasks = args.tasks.split(",") if args.tasks else None
    local_wall, local_runs = _train(scratch / "local", prepared, args.track, tasks, {})
    cores = torch.get_num_threads()
    torch.set_num_threads(1)
    one_wall, _ = _train(scratch / "one-thread", prepared, args.track, tasks, {})
    torch.set_num_threads(cores)
    env = _ray_env(args.workers)
    ray_wall, ray_runs = _train(scratch / "ray", prepared, args.track, tasks, env)
    count = len(ray_runs)
    local_outside = (local_wall - sum(local_runs.values())) / count
    ray_outside = (ray_wall - makespan(list(ray_runs.values()), args.workers)) / count
    lines = [f"{'task':<6} {'local run s':>12} {'ray run s':>10}"]
    lines += [f"{t:<6} {local_runs[t]:>12.1f} {ray_runs[t]:>10.1f}" for t in local_runs]
    return [
        *lines,
        f"one after another: {local_wall:.1f} s (torch on {cores} threads)",
        f"one after another on one thread: {one_wall:.1f} s",
        f"on Ray, {args.workers} one-CPU workers: {ray_wall:.1f} s",
        f"wall-time ratio (Ray / one after another): {ray_wall / local_wall:.2f}",
        f"wall-time ratio (Ray / one after another on one thread): {ray_wall / one_wall:.2f}",
        f"outside the runs, per expert: local {local_outside:.1f} s, Ray {ray_outside:.1f} s",
        f"Ray overhead per expert: {ray_outside - local_outside:.1f} s",
    ]


def compare_train_workers(scratch: Path, prepared: Path, args: argparse.Namespace) -> list[str]:
    tasks = args.tasks.split(",") if args.tasks else None
    workers = args.train_workers
    local_wall, local_runs = _train(scratch / "local", prepared, args.track, tasks, {})
    env = _ray_env(workers, workers)
    ray_wall, ray_runs = _train(scratch / "ray", prepared, args.track, tasks, env)
    lines = [f"{'task':<6} {'local run s':>12} {'Ray Train run s':>16}"]
    lines += [f"{t:<6} {local_runs[t]:>12.1f} {ray_runs[t]:>16.1f}" for t in local_runs]
    extra = (sum(ray_runs.values()) - sum(local_runs.values())) / len(ray_runs)
    return [
        *lines,
        f"one after another: {local_wall:.1f} s (torch on {torch.get_num_threads()} threads)",
        f"each expert on {workers} one-CPU Ray Train workers: {ray_wall:.1f} s",
        f"an expert's run on Ray Train beyond the local one: {extra:.1f} s",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prepared", type=Path, required=True, help="a prepared data folder")
    parser.add_argument("--track", default="domain")
    parser.add_argument("--tasks", default=None, help="comma-separated (default: all)")
    parser.add_argument("--workers", type=int, default=2, help="one-CPU Ray workers")
    parser.add_argument(
        "--train-workers", type=int, default=1, help="Ray Train workers per expert (1: none)"
    )
    parser.add_argument(
        "--log", type=Path, default=Path(tempfile.gettempdir(), "mllmcl-scaleout.log")
    )
    args = parser.parse_args()
    compare = compare_train_workers if args.train_workers > 1 else compare_parallel_experts
    with (
        tempfile.TemporaryDirectory(prefix="mllmcl-scaleout-") as scratch,
        pipeline_output(args.log),
        prefect_test_harness(),
    ):
        figures = compare(Path(scratch), args.prepared.resolve(), args)
    print("\n".join(figures))  # after the pipeline's output is back on the console


if __name__ == "__main__":
    main()
