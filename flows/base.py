"""Make the base MLLM available: the configured Hugging Face LLaVA as it is, or the tiny CPU base,
built and pretrained once per config and registered in MLflow."""

from __future__ import annotations

from prefect import flow, task

from components.data.build import read_manifest
from components.jobs.base import run_base_job
from components.models.base import BaseRef
from components.registry.tracking import store_incarnation
from components.settings import get_settings


@task(name="ensure-base")
def ensure_base() -> BaseRef:
    return run_base_job(get_settings())


@flow(name="build-base")
def build_base() -> BaseRef:
    return ensure_base()


def prepared_tasks(benchmark: str, tasks: list[str] | None) -> list[str]:
    """The given tasks, else every task prepared for the benchmark, in arrival order."""
    manifest = read_manifest(get_settings().data_dir / benchmark)
    if manifest is None:
        raise ValueError(f"benchmark {benchmark!r} is not prepared: run `mllmcl prepare` first")
    return tasks or [t.spec.name for t in manifest.tasks]


def store_scope() -> str:
    """Where cached results point to (the MLflow store, the models folder) and which incarnation
    of them: part of every cache key, so that another home, or a store deleted and made again at
    the same path, never gets a record of runs or folders it does not hold."""
    settings = get_settings()
    incarnation = store_incarnation(settings)
    return f"{settings.resolved_tracking_uri}|{settings.models_dir}|{incarnation}"
