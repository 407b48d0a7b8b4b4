"""A task arrival's wall time on GPUs, projected from per-step figures (prints a table; not a test).

    .venv/bin/python benchmarks/project_arrival.py [--train-rate 2.0] [--routed-rate 8.0] ...

An arrival trains the new task's expert (on `--gpus` Ray Train workers), then the router on
the replay of every seen task (20 samples per task, 40 epochs: the paper's router settings, one
GPU), then evaluates the routed bundle on every seen task's test split and the base alone on the
new task's (the new-task gate), one GPU each. Each job loads the base once. The defaults are
working figures for LLaVA-1.5-7B in bf16 with gradient checkpointing on A100-class GPUs, not
measurements: pass the figures your own runs logged (each expert run's `samples_per_second` in
MLflow, the evaluation run's wall time) to project from them.
"""

from __future__ import annotations

import argparse

ROUTER_SAMPLES_PER_TASK = 20
ROUTER_EPOCHS = 40


def arrival_seconds(
    train_samples: int, seen: int, gpus: int, figures: argparse.Namespace
) -> dict[str, float]:
    """Seconds per stage of the arrival of a task with `train_samples`, `seen` tasks in all."""
    parallel = figures.efficiency if gpus > 1 else 1.0
    expert = train_samples * figures.epochs / (figures.train_rate * gpus * parallel)
    expert += figures.load + (figures.ray_train_start if gpus > 1 else 0.0)
    router = ROUTER_SAMPLES_PER_TASK * seen * ROUTER_EPOCHS / figures.train_rate + figures.load
    evaluation = seen * figures.test_samples / figures.routed_rate + figures.load
    gate = figures.test_samples / figures.single_rate + figures.load
    return {"expert": expert, "router": router, "evaluation and gate": evaluation + gate}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--train-rate", type=float, default=2.0, help="training samples/s/GPU")
    parser.add_argument("--routed-rate", type=float, default=8.0, help="routed answers/s/GPU")
    parser.add_argument("--single-rate", type=float, default=16.0, help="one model's answers/s")
    parser.add_argument("--efficiency", type=float, default=0.9, help="data-parallel efficiency")
    parser.add_argument("--load", type=float, default=30.0, help="seconds to load the base")
    parser.add_argument("--ray-train-start", type=float, default=30.0, help="seconds")
    parser.add_argument("--epochs", type=float, default=1.0, help="expert epochs (paper: 1-3)")
    parser.add_argument("--test-samples", type=int, default=2000, help="per task")
    parser.add_argument("--train-samples", type=int, nargs="+", default=[20_000, 100_000])
    parser.add_argument("--seen", type=int, nargs="+", default=[1, 5, 9])
    parser.add_argument("--gpus", type=int, nargs="+", default=[1, 2, 4, 8])
    figures = parser.parse_args()

    print(
        f"train {figures.train_rate:g} samples/s/GPU, routed {figures.routed_rate:g}/s, "
        f"single {figures.single_rate:g}/s, efficiency {figures.efficiency:g}, "
        f"load {figures.load:g} s, Ray Train start {figures.ray_train_start:g} s, "
        f"{figures.epochs:g} epoch(s), {figures.test_samples} test samples per task\n"
    )
    gpus_header = " | ".join(f"{g} GPU{'s' if g > 1 else ''}" for g in figures.gpus)
    print(f"| train samples | tasks seen | router | evaluation and gate | {gpus_header} |")
    print("| ---: | ---: | ---: | ---: |" + " ---: |" * len(figures.gpus))
    for samples in figures.train_samples:
        for seen in figures.seen:
            stages = [arrival_seconds(samples, seen, g, figures) for g in figures.gpus]
            totals = " | ".join(f"{sum(s.values()) / 3600:.1f} h" for s in stages)
            print(
                f"| {samples:,} | {seen} | {stages[0]['router'] / 60:.0f} min | "
                f"{stages[0]['evaluation and gate'] / 60:.0f} min | {totals} |"
            )


if __name__ == "__main__":
    main()
