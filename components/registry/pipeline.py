"""The pipeline's run: the parent of every job's run, and what a person opens first in MLflow.
It carries the settings that shape the work as params, the data version, the preparation run
and the code version as tags, a description (`mlflow.note.content`, rendered by the UI) and, at
its end, which jobs it found already done, each linked to the run that did the work."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from importlib.metadata import version as installed
from pathlib import Path
from typing import Any

from mlflow import MlflowClient
from mlflow.entities import Param
from mlflow.utils.mlflow_tags import (
    MLFLOW_GIT_COMMIT,
    MLFLOW_RUN_NOTE,
    MLFLOW_SOURCE_NAME,
    MLFLOW_SOURCE_TYPE,
)

from components.registry.models import flat_params
from components.registry.tracking import (
    KIND_TAG,
    VERSION_TAG,
    close_abandoned_runs,
    experiment_id,
    owner_tags,
)
from components.settings import Settings

CODE_TAG = "mllmcl.code_version"
PREPARE_RUN_TAG = "mllmcl.prepare_run"
REUSED_TAG = "mllmcl.reused"  # how many jobs were found done (`.run.<id>`: a job's note)
REUSED_RECORD = "reused.json"
PROJECT = Path(__file__).resolve().parents[2]


def code_version() -> dict[str, str]:
    """The package version, and where it runs from a git checkout, its commit (with `.dirty`
    when tracked files differ from it)."""
    tags = {
        CODE_TAG: installed("mllmcl"),
        MLFLOW_SOURCE_NAME: "mllmcl",
        MLFLOW_SOURCE_TYPE: "LOCAL",
    }

    def git(*args: str) -> str:
        done = subprocess.run(
            ["git", "-C", str(PROJECT), *args], capture_output=True, text=True, timeout=10
        )
        return done.stdout.strip() if done.returncode == 0 else ""

    try:
        if Path(git("rev-parse", "--show-toplevel") or "/nonexistent").resolve() != PROJECT:
            return tags  # not this project's own checkout (an installed copy)
        commit = git("rev-parse", "HEAD")
        dirty = git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        return tags
    tags[MLFLOW_GIT_COMMIT] = commit
    tags[CODE_TAG] += f"+g{commit[:10]}" + (".dirty" if dirty else "")
    return tags


def settings_params(settings: Settings) -> dict[str, Any]:
    """The settings that shape what a pipeline trains and decides (no paths of this machine)."""
    base = settings.base_model
    return {
        "base_model": Path(base).name if Path(base).exists() else base,  # a folder: its name
        "expert_preset": settings.expert_preset,
        "router_preset": settings.router_preset,
        "router_decoding": settings.router_decoding,
        "mllm_confidence_floor": settings.mllm_confidence_floor,
        "prototype_confidence_floor": settings.prototype_confidence_floor,
        "replay_per_task": settings.replay_per_task,
        "seed": settings.seed,
        "train_seed": settings.train_seed,
        "runner": settings.cluster.runner,
        **flat_params("gates.", settings.gates.model_dump()),
    }


@contextmanager
def pipeline_run(
    experiment: str,
    run_name: str,
    settings: Settings,
    tags: Mapping[str, str] | None = None,
    params: Mapping[str, Any] | None = None,
) -> Iterator[str]:
    """The parent run of one pipeline (its jobs nest under the id it yields), with the settings
    and `params` as its params, ended as FAILED when the pipeline raises. Created through the
    client: the jobs run in other threads. Runs that a dead process left RUNNING in this
    experiment are ended as FAILED first."""
    experiment_key = experiment_id(experiment, settings)  # also points MLflow at the store
    close_abandoned_runs([experiment_key])
    client = MlflowClient()
    run = client.create_run(
        experiment_key,
        run_name=run_name,
        tags={KIND_TAG: "pipeline", **owner_tags(), **code_version(), **(tags or {})},
    )
    run_id = run.info.run_id
    everything = {**settings_params(settings), **(params or {})}
    client.log_batch(run_id, params=[Param(name, str(v)) for name, v in everything.items()])
    try:
        yield run_id
    except BaseException:
        _close(client, run_id, experiment_key, settings, "FAILED")
        raise
    _close(client, run_id, experiment_key, settings, "FINISHED")


def record_data(run_id: str, data_version: str, preparation_run: str, tasks: list[str]) -> None:
    """What the pipeline works on: the data version, the run that prepared it, its tasks."""
    client = MlflowClient()
    client.set_tag(run_id, VERSION_TAG, data_version)
    client.set_tag(run_id, PREPARE_RUN_TAG, preparation_run)
    client.log_param(run_id, "tasks", ",".join(tasks))


def describe(run_id: str, text: str) -> None:
    """The run's description (Markdown, shown on its page in the MLflow UI)."""
    MlflowClient().set_tag(run_id, MLFLOW_RUN_NOTE, text)


def note_reused(pipeline_run_id: str, title: str, job_key: str, origin_run_id: str | None) -> None:
    """A job of this pipeline found its work done: by the run `origin_run_id` (None: by no run
    this store knows, e.g. a registered version copied in from another store)."""
    where = f"run.{origin_run_id}" if origin_run_id else f"job.{job_key}"
    MlflowClient().set_tag(pipeline_run_id, f"{REUSED_TAG}.{where}", title)


def _reuse_section(client: MlflowClient, run_id: str, experiment: str) -> str | None:
    """The jobs found done, each linked to the run that did the work, by title. The notes jobs
    left as tags become one record (`reused.json`: each job's title and the id of the run that
    did its work, or null) and a count."""
    tags = client.get_run(run_id).data.tags
    notes = {key: title for key, title in tags.items() if key.startswith(f"{REUSED_TAG}.")}
    if not notes:
        return None
    reused = sorted((title, key.removeprefix(f"{REUSED_TAG}.")) for key, title in notes.items())
    record = [
        {"job": title, "run": where.removeprefix("run.") if where.startswith("run.") else None}
        for title, where in reused
    ]
    client.log_text(run_id, json.dumps(record, indent=1), REUSED_RECORD)
    client.set_tag(run_id, REUSED_TAG, str(len(reused)))
    for key in notes:
        client.delete_tag(run_id, key)
    links = [
        f"- {title}: [its run](#/experiments/{experiment}/runs/{where.removeprefix('run.')})"
        if where.startswith("run.")
        else f"- {title}: registered in another store"
        for title, where in reused
    ]
    return "\n".join([f"### Reused ({len(reused)} jobs found already done)", "", *links])


def _close(
    client: MlflowClient, run_id: str, experiment: str, settings: Settings, status: str
) -> None:
    """The log kept, the reused jobs listed under the description, the run ended."""
    if settings.log_file is not None and settings.log_file.is_file():
        client.log_artifact(run_id, str(settings.log_file), "logs")
    section = _reuse_section(client, run_id, experiment)
    if section is not None:
        note = client.get_run(run_id).data.tags.get(MLFLOW_RUN_NOTE, "")
        describe(run_id, f"{note}\n\n{section}" if note else section)
    client.set_terminated(run_id, status)
