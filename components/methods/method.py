"""The interface of a continual-learning method. A method learns the tasks of a track one step at
a time, in order: step i learns task i from what the earlier steps left (in the registry, or in
the previous step's outcome) and is scored on the test split of every task to evaluate, one row
of the accuracy matrix. A step runs as jobs (`components/jobs/job.py`) through a `Runner`, which
the flows back with Prefect task runs and tests or notebooks with plain calls, so a method never
depends on the orchestrator. Adding a method is adding one module here and naming it in
`components/methods/__init__.py`."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import ClassVar, Generic, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict

from components.evaluation.costs import StepCost
from components.jobs.job import BenchmarkScope, Job

Result = TypeVar("Result")


class Runner(Protocol):
    def run(self, job: Job[Result]) -> Result: ...

    def run_all(self, jobs: Sequence[Job[Result]]) -> list[Result]:
        """Independent jobs; a runner may run them in parallel."""
        ...


class InProcess:
    """Jobs run one after another in this process, without an orchestrator."""

    def run(self, job: Job[Result]) -> Result:
        return job.run()

    def run_all(self, jobs: Sequence[Job[Result]]) -> list[Result]:
        return [job.run() for job in jobs]


class StepContext(BaseModel):
    """What a step is given: where its jobs work (the prepared benchmark, the base, the pipeline
    run), the order of the tasks and which one this step learns, and the tasks to score."""

    model_config = ConfigDict(frozen=True)

    scope: BenchmarkScope
    tasks: list[str]  # in the order they are learned
    step: int  # 1-based: this step learns tasks[step - 1]
    evaluate_on: list[str]
    new_task: str | None  # the task that arrives (the gates judge it); None for a retrain
    promote: bool = True  # a bundle may become the champion (not in the comparison's runs)
    # A method with a router also routes the step's experts with its other router kind, to
    # compare the kinds (the benchmark's main run).
    compare_routers: bool = False

    @property
    def task(self) -> str:
        return self.tasks[self.step - 1]

    @property
    def seen(self) -> list[str]:
        return self.tasks[: self.step]


class StepOutcome(Protocol):
    def accuracies(self) -> dict[str, float]:
        """A[step][j]: the accuracy on every task j scored."""
        ...

    def cost(self) -> StepCost | None:
        """What the step took and keeps; None where a figure is unknown."""
        ...

    def question_kinds(self) -> dict[str, dict[str, float]]:
        """Accuracy per question kind of each task that has several."""
        ...


Outcome = TypeVar("Outcome", bound=StepOutcome)


class Method(ABC, Generic[Outcome]):
    name: ClassVar[str]
    summary: ClassVar[str]  # one line, for the report
    # Learns every task in one step (the joint upper bound), not one task after another: a
    # comparison run takes only its last step, whose outcome does not depend on the order.
    all_at_once: ClassVar[bool] = False

    @abstractmethod
    def learn(self, runner: Runner, context: StepContext, previous: Outcome | None) -> Outcome:
        """Learn `context.task` after the steps before it (`previous`: the last one's outcome)."""

    def router_accuracy(self, outcome: Outcome) -> float | None:
        """The share of items routed to their own task's expert, for a method that routes."""
        return None


def learn_in_order(
    method: Method[Outcome], runner: Runner, scope: BenchmarkScope, tasks: list[str]
) -> list[Outcome]:
    """The method's steps through the tasks in order, each scored on every task (only the last
    for a method that learns them all at once); a run of the comparison, so nothing it learns
    is promoted."""
    outcomes: list[Outcome] = []
    steps = [len(tasks)] if method.all_at_once else range(1, len(tasks) + 1)
    for step in steps:
        context = StepContext(
            scope=scope,
            tasks=tasks,
            step=step,
            evaluate_on=tasks,
            new_task=tasks[step - 1],
            promote=False,
        )
        outcomes.append(method.learn(runner, context, outcomes[-1] if outcomes else None))
    return outcomes
