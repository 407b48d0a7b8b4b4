"""Joint training, the multitask upper bound of continual-learning tables: one LoRA trained
from the base on the train splits of every task together (with the experts' settings), as if
all of them had been at hand from the start, then scored on every task. Nothing is learned in
sequence, so nothing can be forgotten and no order matters: a comparison trains it once per
seed, whatever the task orders, and its row holds the final accuracies and MFN (the metrics of
learning in order are not defined for it). The gap between a method and this row is what
learning in order costs it.

A step of it learns the tasks `tasks[:step]` (by name, in any order); the comparison runs only
the last."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from components.jobs.job import digest
from components.methods.lora_ft import LoraFt, LoraFtStepJob, StepPlan
from components.models.mrlora.experts import config_digest
from components.models.samples import splits_samples


def joint_plan(data_dir: Path, benchmark: str, tasks: Sequence[str], step: int) -> StepPlan:
    """A LoRA trained from the base on the train splits of `tasks[:step]` together, taken by
    task name: the same set of tasks, seen in any order, trains the same model."""
    splits = [(task, "train") for task in sorted(tasks[:step])]
    return StepPlan(splits_samples(data_dir, benchmark, splits), splits)


class JointStepJob(LoraFtStepJob):
    """Step `step` of joint training: no previous step to continue, every seen task's data."""

    def key(self) -> str:
        """The set of seen tasks and their data, not the order they came in: every order that
        reaches the same set at a step reuses one model."""
        seen = sorted(self.tasks[: self.step])
        parts = [self.benchmark, self.method, *seen]
        parts += [self.manifest.task(task).content_hash for task in seen]
        parts += [self.base.digest, config_digest(self.adapter)]
        return digest([*parts, *self.test_data(sorted(self.tasks))])

    def plan(self) -> StepPlan:
        return joint_plan(self.settings.data_dir, self.benchmark, self.tasks, self.step)


class Joint(LoraFt):
    name = "joint"
    summary = "one LoRA trained on every task's data at once (the upper bound)"
    step_job = JointStepJob
    chained = False
    all_at_once = True
