"""Publishing a benchmark's results: results.json, report.md and the plots into
reports/<benchmark>/<time> and reports/latest, and into the pipeline's MLflow run (the metrics
of every method, each task's accuracy at every step, the files as artifacts)."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from mlflow import MlflowClient

from components.evaluation.report import BenchmarkResults, write_report
from components.registry.tracking import configure_tracking
from components.settings import Settings

LATEST = "latest"


def publish_report(settings: Settings, results: BenchmarkResults, run_id: str | None) -> Path:
    folder = settings.reports_dir / results.benchmark / time.strftime("%Y%m%d-%H%M%S")
    write_report(results, folder)
    latest = settings.reports_dir / LATEST
    shutil.rmtree(latest, ignore_errors=True)
    shutil.copytree(folder, latest)
    if run_id is not None:
        configure_tracking(settings)
        client = MlflowClient()
        for name, method in results.methods.items():
            for metric in ("MFT", "MFN", "MAA", "BWT"):
                client.log_metric(run_id, f"{name}.{metric}", getattr(method, metric))
            for step, row in enumerate(method.matrix, start=1):  # a curve per task over steps
                for task, accuracy in zip(method.tasks, row, strict=True):
                    client.log_metric(run_id, f"{name}.accuracy.{task}", accuracy, step=step)
        client.log_artifacts(run_id, str(folder), "report")
    return latest
