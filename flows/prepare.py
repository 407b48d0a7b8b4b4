"""Prepare a benchmark: find its tasks and fingerprint their content, validate every record and
image (cached on that fingerprint), build the Hugging Face datasets, swap them into data/ and
version it with DVC, push the version, and record it in MLflow as the run's dataset inputs."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.context import TaskRunContext

from components.data.prepare import PreparedData, StagedData, build_staged, commit_staged
from components.data.source import SourcePlan, fingerprint_source, plan_source
from components.data.tasks import Track
from components.data.validation import ValidatedTask, validate_source
from components.data.versioning import push_data
from components.locking import benchmark_lock, data_lock
from components.registry.tracking import log_data_preparation
from components.settings import get_settings


def _validation_cache_key(context: TaskRunContext, parameters: dict[str, Any]) -> str:
    """Identical content and validation settings give an identical verdict."""
    settings = get_settings()
    key = {
        "fingerprints": parameters["fingerprints"],
        "root": str(parameters["plan"].root),
        "replay": settings.replay_per_task,
        "seed": settings.seed,
        "max_pixels": settings.max_image_pixels,
    }
    return "validate-" + hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()


@task(name="plan-source")
def find_tasks(source: Path, track: Track | None, tasks: list[str] | None) -> SourcePlan:
    return plan_source(source, track, tasks)


@task(name="fingerprint-source")
def fingerprint(plan: SourcePlan) -> dict[str, str]:
    return fingerprint_source(plan)


@task(
    name="validate-source",
    cache_key_fn=_validation_cache_key,
    persist_result=True,
    result_serializer="json",
)
def validate(plan: SourcePlan, fingerprints: dict[str, str]) -> list[ValidatedTask]:
    settings = get_settings()
    return validate_source(plan, settings.replay_per_task, settings.seed, settings.max_image_pixels)


@task(name="build-datasets")
def build(
    tasks: list[ValidatedTask], fingerprints: dict[str, str], benchmark: str, track: Track | None
) -> StagedData:
    return build_staged(tasks, fingerprints, benchmark, track, get_settings())


@task(name="version-data")
def version(staged: StagedData) -> PreparedData:
    return commit_staged(staged, get_settings())


@task(name="push-data", retries=3, retry_delay_seconds=[2, 10, 30])
def push(prepared: PreparedData) -> int:
    settings = get_settings()
    with data_lock(settings, f"pushing {prepared.benchmark}"):
        return push_data(settings.home, settings.data_dir, settings.dvc_remote)


@task(name="log-data-version", retries=3, retry_delay_seconds=[2, 10, 30])
def log(prepared: PreparedData, source: Path) -> str:
    return log_data_preparation(prepared, source, get_settings())


@flow(name="prepare-data")
def prepare_data(
    source: Path,
    benchmark: str,
    track: Track | None = None,
    tasks: list[str] | None = None,
) -> dict[str, Any]:
    with benchmark_lock(get_settings(), benchmark, "prepare-data", get_run_logger().warning):
        plan = find_tasks(source, track, tasks)
        fingerprints = fingerprint(plan)
        validated = validate(plan, fingerprints)
        staged = build(validated, fingerprints, benchmark, plan.track)
        prepared = version(staged)
        push(prepared)
        run_id = log(prepared, plan.root)
    get_run_logger().info(
        "data version %s (built: %s; MLflow run %s)",
        prepared.version,
        ", ".join(prepared.built) or "none",
        run_id,
    )
    return {"prepared": prepared, "mlflow_run_id": run_id}
