"""The job base. A job is a frozen value holding everything its work depends on (the settings, the
prepared benchmark, the records of the jobs before it), so a flow builds it once and runs it
anywhere. `key()` names that work; `run()` returns what the registry or the tracking store
already holds under the key, and does the work only when they hold nothing: a rerun after a
crash continues from the last job that finished, and nothing trains or registers twice."""

from __future__ import annotations

from abc import abstractmethod
from typing import Generic, TypeVar

from pydantic import BaseModel, ConfigDict

from components.data.build import Manifest
from components.registry.tracker import Tracker
from components.registry.tracking import benchmark_experiment
from components.settings import Settings

Result = TypeVar("Result")


class Job(BaseModel, Generic[Result]):
    model_config = ConfigDict(frozen=True)

    settings: Settings
    parent_run_id: str | None = None  # the pipeline run its runs nest under

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

    def run(self) -> Result:
        tracker = Tracker(self.settings, self.experiment, self.parent_run_id)
        found = self.find(tracker)
        return found if found is not None else self.work(tracker)


class BenchmarkJob(Job[Result]):
    """A job on a prepared benchmark; its runs go to the benchmark's experiment."""

    manifest: Manifest

    @property
    def benchmark(self) -> str:
        return self.manifest.benchmark

    @property
    def experiment(self) -> str:
        return benchmark_experiment(self.benchmark)
