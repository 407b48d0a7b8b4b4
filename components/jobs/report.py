"""Publishing a benchmark's results: results.json, report.md and the plots into
reports/<benchmark>/<time> and reports/latest, and into the pipeline's MLflow run."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from components.evaluation.report import BenchmarkResults, write_report
from components.registry.reports import log_report
from components.settings import Settings

LATEST = "latest"


def publish_report(settings: Settings, results: BenchmarkResults, run_id: str | None) -> Path:
    folder = settings.reports_dir / results.benchmark / time.strftime("%Y%m%d-%H%M%S")
    write_report(results, folder)
    latest = settings.reports_dir / LATEST
    shutil.rmtree(latest, ignore_errors=True)
    shutil.copytree(folder, latest)
    if run_id is not None:
        log_report(settings, run_id, results, folder)
    return latest
