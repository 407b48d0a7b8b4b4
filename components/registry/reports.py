"""A benchmark's results into its pipeline run: the metrics of every method (with their mean and
spread over the protocol's runs, and its costs), each task's accuracy at every step (a curve per
task), and the report's files (every run's table among them) as artifacts."""

from __future__ import annotations

from pathlib import Path
from statistics import fmean, stdev

from mlflow import MlflowClient

from components.evaluation.metrics import defined
from components.evaluation.report import METRICS, BenchmarkResults
from components.registry.tracking import configure_tracking
from components.settings import Settings


def log_report(settings: Settings, run_id: str, results: BenchmarkResults, folder: Path) -> None:
    configure_tracking(settings)
    client = MlflowClient()
    for name, method in results.methods.items():
        for metric, value in results.columns(method).items():
            if metric in METRICS and value is not None:
                client.log_metric(run_id, f"{name}.{metric}", value)
        if len(results.runs_of(name)) > 1:  # the spread over the protocol's runs
            for metric, values in results.spread(name).items():
                known = defined(values)
                if metric in METRICS and known is not None:
                    client.log_metric(run_id, f"{name}.{metric}.mean", fmean(known))
                    client.log_metric(run_id, f"{name}.{metric}.sd", stdev(known))
        if method.cost is not None:
            for figure, value in method.cost.model_dump().items():
                client.log_metric(run_id, f"{name}.cost.{figure}", value)
        for step, row in enumerate(method.matrix, start=1):
            for task, accuracy in zip(method.tasks, row, strict=True):
                client.log_metric(run_id, f"{name}.accuracy.{task}", accuracy, step=step)
    client.log_artifacts(run_id, str(folder), "report")
