"""Experts one after another against experts as Ray tasks (prints figures; not a test).

    .venv/bin/python benchmarks/scaleout.py --prepared data --track domain [--workers 2]

Both sides train the same experts (the configured preset, the shipped tiny base) from nothing
into a fresh project home each, under a temporary Prefect server: first with the local runner
(one after another on the flow's thread, torch on every core), then on a local Ray cluster of
`--workers` one-CPU workers (each job asks for one CPU; torch follows with one thread). Printed:
each side's wall time and their ratio, each expert's own run time (its MLflow run), and the
time each side spends outside the experts' runs, per expert: the wall time less the runs'
makespan (on the Ray side: the makespan its runs would have on its workers, in submission
order). That time holds the base job, the lookups and Prefect's task runs on both sides; what
the Ray side spends beyond the local one is Ray's overhead (connecting, starting workers and
importing the libraries in them, moving jobs and results).
"""

from __future__ import annotations

import argparse
import heapq
import os
import tempfile
import time
from pathlib import Path

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prepared", type=Path, required=True, help="a prepared data folder")
    parser.add_argument("--track", default="domain")
    parser.add_argument("--tasks", default=None, help="comma-separated (default: all)")
    parser.add_argument("--workers", type=int, default=2, help="one-CPU Ray workers")
    parser.add_argument(
        "--log", type=Path, default=Path(tempfile.gettempdir(), "mllmcl-scaleout.log")
    )
    args = parser.parse_args()
    tasks = args.tasks.split(",") if args.tasks else None
    prepared = args.prepared.resolve()
    with (
        tempfile.TemporaryDirectory(prefix="mllmcl-scaleout-") as scratch,
        pipeline_output(args.log),
        prefect_test_harness(),
    ):
        local_wall, local_runs = _train(Path(scratch, "local"), prepared, args.track, tasks, {})
        ray_env = {
            "MLLMCL_CLUSTER__RUNNER": "ray",
            "MLLMCL_CLUSTER__LOCAL_CPUS": str(args.workers),
            "MLLMCL_CLUSTER__CPUS_PER_JOB": "1",
        }
        ray_wall, ray_runs = _train(Path(scratch, "ray"), prepared, args.track, tasks, ray_env)
    count = len(ray_runs)
    local_outside = (local_wall - sum(local_runs.values())) / count
    ray_outside = (ray_wall - makespan(list(ray_runs.values()), args.workers)) / count
    print(f"{'task':<6} {'local run s':>12} {'ray run s':>10}")
    for task in local_runs:
        print(f"{task:<6} {local_runs[task]:>12.1f} {ray_runs[task]:>10.1f}")
    print(f"one after another: {local_wall:.1f} s (torch on {os.cpu_count()} cores)")
    print(f"on Ray, {args.workers} one-CPU workers: {ray_wall:.1f} s")
    print(f"wall-time ratio (Ray / one after another): {ray_wall / local_wall:.2f}")
    print(f"outside the runs, per expert: local {local_outside:.1f} s, Ray {ray_outside:.1f} s")
    print(f"Ray overhead per expert: {ray_outside - local_outside:.1f} s")


if __name__ == "__main__":
    main()
