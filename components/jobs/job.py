"""The job base. A job is a frozen value holding everything its work depends on (its scope: the
settings, the prepared benchmark and the base; and the records of the jobs before it), so a flow
builds it once and runs it anywhere. `key()` names that work; `run()` returns what the registry
or the tracking store already holds under the key, and does the work only when they hold
nothing: a rerun after a crash continues from the last job that finished, and nothing trains or
registers twice. Jobs of one key that run at once (side by side on a cluster) take turns: the
second finds what the first did."""

from __future__ import annotations

import hashlib
import json
from abc import abstractmethod
from collections.abc import Sequence
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict

from components.cluster.settings import Reservation
from components.data.build import Manifest
from components.data.versioning import data_version
from components.locking import job_lock
from components.models.base.loading import BaseRef
from components.models.samples import Split
from components.registry.tracker import Tracker
from components.registry.tracking import benchmark_experiment
from components.settings import Settings

Result = TypeVar("Result")


def digest(parts: list[Any]) -> str:
    """A job key: its parts, hashed."""
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:16]


class Scope(BaseModel):
    """Where a job works: the settings, and the pipeline run its runs nest under."""

    model_config = ConfigDict(frozen=True)

    settings: Settings
    parent_run_id: str | None = None


class BenchmarkScope(Scope):
    """Where a job on a prepared benchmark works: also the benchmark and the base."""

    manifest: Manifest
    base: BaseRef


class Job(BaseModel, Generic[Result]):
    model_config = ConfigDict(frozen=True)

    scope: Scope

    @property
    def settings(self) -> Settings:
        return self.scope.settings

    @property
    @abstractmethod
    def title(self) -> str:
        """Its run's name (and its Prefect task run's)."""

    @property
    @abstractmethod
    def experiment(self) -> str: ...

    @abstractmethod
    def key(self) -> str:
        """Everything the result depends on, hashed."""

    @abstractmethod
    def find(self, tracker: Tracker) -> Result | None:
        """The result kept under `key()`, if any."""

    @abstractmethod
    def work(self, tracker: Tracker) -> Result:
        """Do the work, keeping its result under `key()`."""

    def reservation(self) -> Reservation:
        """What a cluster holds for this job while it runs (the `cluster` settings')."""
        return self.settings.cluster.per_job

    def run(self) -> Result:
        tracker = Tracker(self.settings, self.experiment, self.scope.parent_run_id)
        found = self.find(tracker)
        if found is None:
            with job_lock(self.settings, type(self).__name__, self.key(), self.title):
                found = self.find(tracker)  # done meanwhile by a job of the same key
                if found is None:
                    return self.work(tracker)
        tracker.note_reused(self.title, self.key())
        return found


class BenchmarkJob(Job[Result]):
    """A job on a prepared benchmark; its runs go to the benchmark's experiment."""

    scope: BenchmarkScope

    @property
    def manifest(self) -> Manifest:
        return self.scope.manifest

    @property
    def base(self) -> BaseRef:
        return self.scope.base

    @property
    def benchmark(self) -> str:
        return self.manifest.benchmark

    @property
    def experiment(self) -> str:
        return benchmark_experiment(self.benchmark)

    @property
    def data_version(self) -> str:
        """The DVC version of the prepared data."""
        return data_version(self.settings.dvc_file) or "unversioned"

    def log_data(self, tracker: Tracker, splits: Sequence[Split], context: str) -> None:
        """The splits this job's active run trains or evaluates on, as its MLflow inputs."""
        tracker.log_data(self.benchmark, splits, self.data_version, context)

    def log_tests(self, tracker: Tracker, tasks: Sequence[str]) -> None:
        """The test splits this job's active run scores on, as its MLflow inputs."""
        self.log_data(tracker, [(task, "test") for task in tasks], "evaluation")

    def test_data(self, tasks: list[str]) -> list[str]:
        """Which test split each task is scored on (its content hash): part of a scoring key."""
        return [f"{t}:{self.manifest.task(t).files.get('test.parquet')}" for t in tasks]
