"""What a job sees of MLflow: its runs in one experiment, nested under the pipeline's run, and the
results of earlier runs found by their key (the one record of work already done)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import mlflow
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID, MLFLOW_RUN_NOTE
from pydantic import BaseModel

from components.cluster.worker import placement_tags
from components.registry.models import MlflowLossCallback, tracked_run
from components.registry.pipeline import note_reused
from components.registry.tracking import KIND_TAG, configure_tracking, experiment_id, log_splits
from components.settings import Settings

KEY_TAG = "mllmcl.key"
RESULT_FILE = "result.json"
Result = TypeVar("Result", bound=BaseModel)


class Tracker:
    def __init__(self, settings: Settings, experiment: str, parent_run_id: str | None) -> None:
        configure_tracking(settings)
        self.settings = settings
        self.experiment = experiment
        self.parent_run_id = parent_run_id

    @contextmanager
    def run(
        self,
        name: str,
        kind: str,
        key: str,
        description: str,
        tags: Mapping[str, str] | None = None,
    ) -> Iterator[str]:
        """A run of this job (system metrics, wall time) tagged with its key and how it ran,
        `description` on its page; yields its id."""
        tags = {KEY_TAG: key, MLFLOW_RUN_NOTE: description, **placement_tags(), **(tags or {})}
        with tracked_run(
            self.experiment, name, kind, self.settings, self.parent_run_id, tags=tags
        ) as run:
            yield run.info.run_id

    def loss_callback(self, prefix: str = "train/") -> MlflowLossCallback:
        return MlflowLossCallback(prefix)

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        mlflow.log_metrics(dict(metrics), step=step)

    def log_data(
        self, benchmark: str, splits: Sequence[tuple[str, str]], version: str, context: str
    ) -> None:
        """The prepared splits the active run trains (`context` "training") or evaluates on
        ("evaluation"), as its dataset inputs."""
        log_splits(self.settings.data_dir, benchmark, splits, version, context)

    def log_dict(self, values: Mapping[str, Any], name: str) -> None:
        mlflow.log_dict(dict(values), name)

    def keep(self, result: BaseModel) -> None:
        """The job's result, stored with its run, for a rerun to find (`found`)."""
        mlflow.log_text(result.model_dump_json(), RESULT_FILE)

    def keep_folder(self, folder: Path, name: str) -> None:
        mlflow.log_artifacts(str(folder), name)

    def found(self, kind: str, key: str, result: type[Result]) -> tuple[str, Result] | None:
        """The newest finished run of this kind and key that kept a result, and that result."""
        runs = MlflowClient().search_runs(
            [experiment_id(self.experiment, self.settings)],
            f"tags.`{KIND_TAG}` = '{kind}' and tags.`{KEY_TAG}` = '{key}' "
            "and attributes.status = 'FINISHED'",
            order_by=["attributes.start_time DESC"],
        )
        for run in runs:
            try:
                text = mlflow.artifacts.load_text(f"{run.info.artifact_uri}/{RESULT_FILE}")
            except (OSError, MlflowException):
                continue  # a run that ended before it kept its result
            return run.info.run_id, result.model_validate(json.loads(text))
        return None

    def note_reused(self, title: str, key: str) -> None:
        """Tells the pipeline's run that a job of its found its work done under `key`, and by
        which run (not when that run is one of this pipeline's own)."""
        if self.parent_run_id is None:
            return
        runs = MlflowClient().search_runs(
            [experiment_id(self.experiment, self.settings)],
            f"tags.`{KEY_TAG}` = '{key}' and attributes.status = 'FINISHED'",
            order_by=["attributes.start_time DESC"],
            max_results=1,
        )
        origin = runs[0] if runs else None
        if origin is not None and origin.data.tags.get(MLFLOW_PARENT_RUN_ID) == self.parent_run_id:
            return
        note_reused(self.parent_run_id, title, key, origin.info.run_id if origin else None)

    def restore_folder(self, run_id: str, name: str, target: Path) -> Path:
        """A folder kept by `keep_folder`, downloaded into `target` unless it is there."""
        if not target.is_dir():
            target.parent.mkdir(parents=True, exist_ok=True)
            partial = target.with_name(f"{target.name}.partial")
            shutil.rmtree(partial, ignore_errors=True)  # left by a download that died
            mlflow.artifacts.download_artifacts(
                run_id=run_id, artifact_path=name, dst_path=str(partial)
            )
            (partial / name).replace(target)
            shutil.rmtree(partial)
        return target
