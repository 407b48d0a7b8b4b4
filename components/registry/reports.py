"""A benchmark's results into its pipeline run: the metrics of every method (with their mean and
spread over the protocol's runs, and its costs), each task's accuracy at every step (a curve per
task), each router kind's accuracy at every step and its costs, the report's files (every run's
table among them) as artifacts, and its description: the comparison table and what its metrics
mean."""

from __future__ import annotations

from pathlib import Path
from statistics import fmean, stdev

from mlflow import MlflowClient

from components.evaluation.metrics import defined
from components.evaluation.report import (
    METRICS,
    BenchmarkResults,
    comparison_table,
    metric_definitions,
)
from components.registry.pipeline import describe
from components.registry.tracking import configure_tracking
from components.settings import Settings
from components.text_table import markdown_as_text


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
    for kind in results.routers:  # each router kind: a curve over the steps, and its costs
        for step, (accuracy, unsure) in enumerate(
            zip(kind.accuracy, kind.low_confidence, strict=True), start=1
        ):
            client.log_metric(run_id, f"router.{kind.kind}.accuracy", accuracy, step=step)
            client.log_metric(run_id, f"router.{kind.kind}.low_confidence", unsure, step=step)
        client.log_metric(run_id, f"router.{kind.kind}.MFN", kind.mean_final)
        client.log_metric(run_id, f"router.{kind.kind}.seconds_per_item", kind.seconds_per_item)
        if kind.build_seconds is not None:
            client.log_metric(run_id, f"router.{kind.kind}.build_seconds", kind.build_seconds)
    client.log_artifacts(run_id, str(folder), "report")
    describe(run_id, description(results))


def description(results: BenchmarkResults) -> str:
    """The pipeline run's description: the task order, the comparison table (aligned text:
    the UI's Markdown tables are cramped), what the metrics mean, where the report is."""
    return "\n".join(
        [
            f"## MLLM-CL benchmark: {results.benchmark}",
            "",
            f"Tasks in order: {' -> '.join(results.tasks)}. Accuracies in percent with each "
            "task's official scorer; the per-task columns are A[T][j], after the last task.",
            "",
            "```text",
            markdown_as_text(comparison_table(results)),
            "```",
            "",
            *metric_definitions(),
            "",
            "The full report with its plots: `report/report.html` among this run's artifacts "
            "(`report/report.md` beside it).",
        ]
    )
