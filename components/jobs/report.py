"""Publishing a benchmark's results: results.json, report.md and the plots into
reports/<benchmark>/<time> and reports/latest/<benchmark>, whose report.md then shows every
track's table, and into the pipeline's MLflow run."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from components.evaluation.report import BenchmarkResults, write_combined_report, write_report
from components.registry.reports import log_report
from components.settings import Settings

LATEST = "latest"


def publish_report(settings: Settings, results: BenchmarkResults, run_id: str | None) -> Path:
    """The track's report folder under reports/latest."""
    folder = settings.reports_dir / results.benchmark / time.strftime("%Y%m%d-%H%M%S")
    write_report(results, folder)
    latest = settings.reports_dir / LATEST / results.benchmark
    shutil.rmtree(latest, ignore_errors=True)
    shutil.copytree(folder, latest)
    write_combined_report(latest.parent)
    if run_id is not None:
        log_report(settings, run_id, results, folder)
    return latest
