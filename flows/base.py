"""What every flow builds on: one Prefect task that runs a job (its run named by the job), the
base MLLM (the configured Hugging Face LLaVA, or the tiny CPU base built once per config and
registered), and the prepared benchmark the jobs are given."""

from __future__ import annotations

from typing import Any, TypeVar, cast

from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from prefect.futures import PrefectFuture

from components.data.build import Manifest, prepared_manifest
from components.jobs.base import BaseJob
from components.jobs.job import Job
from components.models.base import BaseRef
from components.settings import get_settings

Result = TypeVar("Result")


@task(name="job", task_run_name="{job.title}", cache_policy=NO_CACHE)
def _job(job: Job[Any]) -> Any:
    return job.run()


def run_job(job: Job[Result]) -> Result:
    """The job's result, as a Prefect task run: what its key holds in the registry, else its
    work (the job decides; Prefect keeps no cache of its own)."""
    return cast(Result, _job(job))


def submit_job(job: Job[Result]) -> PrefectFuture[Result]:
    """The job as a Prefect task run on the flow's task runner (in parallel with others)."""
    return _job.submit(job)


def ensure_base() -> BaseRef:
    return run_job(BaseJob(settings=get_settings()))


@flow(name="build-base")
def build_base() -> BaseRef:
    return ensure_base()


def prepared(benchmark: str) -> Manifest:
    return prepared_manifest(get_settings().data_dir, benchmark)
