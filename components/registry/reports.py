"""A benchmark's results into its pipeline run: the metrics of every method, each task's
accuracy at every step (a curve per task), and the report's files as artifacts."""

from __future__ import annotations

from pathlib import Path

from mlflow import MlflowClient

from components.evaluation.report import BenchmarkResults
from components.registry.tracking import configure_tracking
from components.settings import Settings


def log_report(settings: Settings, run_id: str, results: BenchmarkResults, folder: Path) -> None:
    configure_tracking(settings)
    client = MlflowClient()
    for name, method in results.methods.items():
        for metric in ("MFT", "MFN", "MAA", "BWT"):
            client.log_metric(run_id, f"{name}.{metric}", getattr(method, metric))
        for step, row in enumerate(method.matrix, start=1):
            for task, accuracy in zip(method.tasks, row, strict=True):
                client.log_metric(run_id, f"{name}.accuracy.{task}", accuracy, step=step)
    client.log_artifacts(run_id, str(folder), "report")
