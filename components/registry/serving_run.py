"""A served bundle's MLflow run: open while the server runs, it draws the share of low-confidence
routings over the latest answers (`low_confidence_share`, percent; its step: the answers so far),
the sign that inputs of a task no expert learned may be arriving."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from mlflow import MlflowClient
from mlflow.utils.mlflow_tags import MLFLOW_RUN_NOTE

from components.registry.tracking import KIND_TAG, benchmark_experiment, experiment_id, owner_tags
from components.serving.confidence import Report
from components.settings import Settings

SHARE_METRIC = "low_confidence_share"


@contextmanager
def serving_run(settings: Settings, benchmark: str, uri: str) -> Iterator[Report]:
    """Yields the report a confidence window calls: it logs the window's share into the run."""
    client = MlflowClient()
    note = (
        f"Serving `{uri}`. `{SHARE_METRIC}`: the percentage of the answers the bundle marked "
        f"`low_confidence` (below the floor it was registered with) among each "
        f"{settings.serve.confidence_window} answers, at step = the answers so far."
    )
    run = client.create_run(
        experiment_id(benchmark_experiment(benchmark), settings),
        run_name=f"serve {uri.removeprefix('models:/')}",
        tags={KIND_TAG: "serving", MLFLOW_RUN_NOTE: note, **owner_tags()},
    )
    run_id = run.info.run_id

    def report(share: float, answers: int) -> None:
        client.log_metric(run_id, SHARE_METRIC, share, step=answers)

    try:
        yield report
    except BaseException:
        client.set_terminated(run_id, "FAILED")
        raise
    client.set_terminated(run_id, "FINISHED")
