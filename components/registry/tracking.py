"""Every MLflow call of the pipeline goes through here: the store, experiments and runs."""

from __future__ import annotations

import json
import socket
import tempfile
import urllib.error
import urllib.request
import warnings
from collections.abc import Sequence
from pathlib import Path

import mlflow
import psutil
from mlflow import MlflowClient
from mlflow.data.dataset import Dataset
from mlflow.data.huggingface_dataset import from_huggingface
from mlflow.entities import Run
from mlflow.exceptions import MlflowException

from components.data.build import load_split
from components.data.layout import SPLITS
from components.data.prepare import PreparedData
from components.settings import Settings

KIND_TAG = "mllmcl.kind"
VERSION_TAG = "mllmcl.data_version"
BENCHMARK_TAG = "mllmcl.benchmark"
PID_TAG, HOST_TAG, STARTED_TAG = "mllmcl.pid", "mllmcl.host", "mllmcl.process_started"


def owner_tags() -> dict[str, str]:
    """Which process a run belongs to, so that a run it leaves RUNNING when it dies can be told
    from one still in progress (a pid alone could be reused by a later process)."""
    process = psutil.Process()
    return {
        PID_TAG: str(process.pid),
        HOST_TAG: socket.gethostname(),
        STARTED_TAG: f"{process.create_time():.2f}",
    }


def _alive(run: Run) -> bool:
    tags = run.data.tags
    if tags.get(HOST_TAG) != socket.gethostname():
        return True  # another machine's: nothing here can tell
    try:
        process = psutil.Process(int(tags[PID_TAG]))
        return f"{process.create_time():.2f}" == tags.get(STARTED_TAG)
    except (KeyError, ValueError, psutil.Error):
        return False


def close_abandoned_runs(experiment_ids: list[str]) -> list[str]:
    """Runs left RUNNING by a process of this machine that has died are ended as FAILED."""
    client = MlflowClient()
    closed = []
    for run in client.search_runs(experiment_ids, "attributes.status = 'RUNNING'"):
        if not _alive(run):
            client.set_tag(run.info.run_id, "mllmcl.closed", "its process died while it ran")
            client.set_terminated(run.info.run_id, "FAILED")
            closed.append(run.info.run_id)
    return closed


class TrackingServerUnreachable(ConnectionError):
    """The configured MLflow tracking server does not answer."""


def _check_answers(uri: str) -> None:
    """A tracking server that does not answer stops the work before it starts anything (MLflow
    itself would retry each call for minutes, then fail wherever the work had got to)."""
    try:
        with urllib.request.urlopen(f"{uri.rstrip('/')}/health", timeout=10):
            return
    except urllib.error.HTTPError:
        return  # it answered (a proxy or an auth layer in front of it has its say later)
    except OSError as error:
        raise TrackingServerUnreachable(
            f"the MLflow tracking server at {uri} does not answer ({error}); start it "
            "(`mllmcl cluster up` starts a local one) or point MLLMCL_TRACKING_URI at another"
        ) from error


def configure_tracking(settings: Settings) -> str:
    """Point MLflow at the store (creating the embedded sqlite one when needed; a tracking
    server must answer)."""
    uri = settings.resolved_tracking_uri
    if uri.startswith("sqlite:///"):
        Path(uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    elif uri.startswith(("http://", "https://")):
        _check_answers(uri)
    mlflow.set_tracking_uri(uri)
    return uri


# Marks an experiment as a machine-learning one in MLflow 3 (its UI still opens in GenAI mode
# unless the link asks for `workflowType=machine_learning`, as the links the CLI prints do).
EXPERIMENT_KIND = {"mlflow.experimentKind": "custom_model_development"}


def experiment_id(name: str, settings: Settings) -> str:
    """The experiment's id, created with its artifacts under mlflow/artifacts for a local store
    (one created by an earlier version of the pipeline gets its kind now)."""
    configure_tracking(settings)
    existing = mlflow.get_experiment_by_name(name)
    if existing is not None:
        for key, value in EXPERIMENT_KIND.items():
            if existing.tags.get(key) != value:
                MlflowClient().set_experiment_tag(existing.experiment_id, key, value)
        return existing.experiment_id
    location = None
    if settings.resolved_tracking_uri.startswith("sqlite:"):
        location = (settings.artifact_root / name).as_uri()
    try:
        return mlflow.create_experiment(name, artifact_location=location, tags=EXPERIMENT_KIND)
    except MlflowException:  # created meanwhile by a concurrent task
        created = mlflow.get_experiment_by_name(name)
        if created is None:
            raise
        return created.experiment_id


def benchmark_experiment(benchmark: str) -> str:
    return f"mllmcl-{benchmark}"


def log_splits(
    data_dir: Path,
    benchmark: str,
    splits: Sequence[tuple[str, str]],
    version: str,
    context: str | None = None,
) -> None:
    """Prepared splits (task, split) as dataset inputs of the active run, named
    `<benchmark>/<task>/<split>` with the data version as digest: the same dataset entities in
    the preparation run and in every run that trains or evaluates on them. `context`: what the
    run did with them (default: the split's name)."""
    datasets: list[Dataset | None] = []
    contexts: list[str | None] = []
    tags: list[dict[str, str] | None] = []
    for task, split in splits:
        path = data_dir / benchmark / task / f"{split}.parquet"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "source can be interpreted in multiple ways"
            datasets.append(
                from_huggingface(
                    load_split(data_dir, benchmark, task, split),
                    source=str(path),
                    name=f"{benchmark}/{task}/{split}",
                    digest=version,
                )
            )
        contexts.append(context or split)
        tags.append({"task": task, "split": split})
    mlflow.log_inputs(datasets, contexts, tags)


def find_preparation_run(prepared: PreparedData, settings: Settings) -> Run | None:
    runs = mlflow.search_runs(
        experiment_ids=[experiment_id(benchmark_experiment(prepared.benchmark), settings)],
        filter_string=(
            f"tags.`{KIND_TAG}` = 'prepare' and tags.`{VERSION_TAG}` = '{prepared.version}' "
            "and attributes.status = 'FINISHED'"
        ),
        output_format="list",
        max_results=1,
    )
    return runs[0] if runs else None


def _shown(path: Path, home: Path) -> str:
    """A path as records show it: relative to the project home, else by its name (a path of
    one machine means nothing on another)."""
    resolved = path.resolve()
    return str(resolved.relative_to(home)) if resolved.is_relative_to(home) else resolved.name


def log_data_preparation(prepared: PreparedData, source: Path, settings: Settings) -> str:
    """One run per data version: params, counts, the manifest, and every split as a dataset
    input whose digest is the DVC version. An already-logged version is not logged again."""
    known = find_preparation_run(prepared, settings)
    if known is not None:
        return known.info.run_id
    manifest = prepared.manifest
    with mlflow.start_run(
        experiment_id=experiment_id(benchmark_experiment(prepared.benchmark), settings),
        run_name=f"prepare-{prepared.benchmark}-{prepared.version[:8]}",
        tags={
            KIND_TAG: "prepare",
            VERSION_TAG: prepared.version,
            BENCHMARK_TAG: prepared.benchmark,
            **owner_tags(),
        },
    ) as run:
        mlflow.log_params(
            {
                "benchmark": prepared.benchmark,
                "track": manifest.track or "",
                "tasks": ",".join(t.spec.name for t in manifest.tasks),
                "source": _shown(source, settings.home),
                "data_version": prepared.version,
                "built": ",".join(prepared.built) or "-",
                "replay_per_task": settings.replay_per_task,
            }
        )
        for entry in manifest.tasks:
            name = entry.spec.name
            mlflow.log_params(
                {
                    f"{name}.scorer": entry.spec.scorer,
                    f"{name}.source_hash": entry.source_hash[:16],
                    **{f"{name}.{split}_from": where for split, where in entry.sources.items()},
                }
            )
            mlflow.log_metrics(
                {f"{name}.{split}_samples": count for split, count in entry.counts.items()}
            )
        log_splits(
            prepared.data_dir,
            prepared.benchmark,
            [(entry.spec.name, split) for entry in manifest.tasks for split in SPLITS],
            prepared.version,
        )
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "manifest.json"
            path.write_text(json.dumps(manifest.model_dump(mode="json"), indent=1, sort_keys=True))
            mlflow.log_artifact(str(path))
        return run.info.run_id
