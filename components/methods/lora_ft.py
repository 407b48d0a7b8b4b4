"""LoRA-FT, the sequential fine-tuning baseline of the MLLM-CL tables: one LoRA trained through
the tasks in order, each step continuing the previous step's adapter on the next task's data
(with the experts' settings), so nothing protects what earlier tasks taught it. LoRA-FT with
replay: the same, each step also seeing the replay sets of the tasks before it."""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from pydantic import BaseModel
from transformers import TrainerCallback

from components.evaluation.costs import StepCost, folder_bytes
from components.jobs.experts import ExpertJob
from components.jobs.job import BenchmarkJob, digest
from components.methods.method import Method, Runner, StepContext
from components.models.base.loading import BaseRef
from components.models.lora.adapters import (
    AdapterRun,
    AdapterStart,
    AfterTraining,
    TrainingCost,
    continued,
    train_adapter,
)
from components.models.lora.settings import AdapterSettings
from components.models.lora.training import Penalty
from components.models.mrlora.experts import config_digest, expert_settings
from components.models.prompts import Sample
from components.models.samples import Split, splits_samples
from components.models.scoring import evaluate_adapter
from components.registry.adapters import AdapterRecord
from components.registry.evaluations import log_evaluation
from components.registry.models import log_training
from components.registry.tracker import Tracker


@dataclass(frozen=True)
class StepPlan:
    """What one step of a method that trains one adapter per step trains: its samples, how its
    adapter is put on the base (default: a fresh LoRA), and the method's own additions: a
    penalty on the loss, work on the trained model, and the weights it loads trainable but
    holds fixed (not counted as trained)."""

    samples: list[Sample]
    splits: list[Split]  # where the samples come from (the training run's dataset inputs)
    start: AdapterStart | None = None
    penalty: Penalty | None = None
    then: AfterTraining | None = None
    frozen_parameters: int = 0
    # Set where the plan is a fresh LoRA on this task's training split and nothing else: what
    # MR-LoRA's expert of the task is, so the step takes that expert instead of training it again.
    expert_of: str | None = None


def train_step(
    plan: StepPlan,
    base: BaseRef,
    settings: AdapterSettings,
    out: Path,
    callbacks: Sequence[TrainerCallback] = (),
    progress: bool = True,
    dtype: str = "auto",
    device: str = "auto",
) -> AdapterRun:
    """The planned step's adapter, trained into `out`."""
    run = train_adapter(
        base.name_or_path,
        plan.samples,
        settings,
        out,
        start=plan.start,
        callbacks=callbacks,
        progress=progress,
        dtype=dtype,
        device=device,
        penalty=plan.penalty,
        then=plan.then,
    )
    trained = run.trainable_parameters - plan.frozen_parameters
    return run.model_copy(update={"trainable_parameters": trained})


def lora_ft_plan(
    data_dir: Path,
    benchmark: str,
    tasks: Sequence[str],
    step: int,
    previous: Path | None,
    replay: bool = False,
) -> StepPlan:
    """Step `step` (1-based) of the sequence: continue `previous` on task `tasks[step-1]` (plus
    the replay sets of the tasks before it, with `replay`)."""
    task = tasks[step - 1]
    splits = [(task, "train")]
    if replay:
        splits += [(earlier, "replay") for earlier in tasks[: step - 1]]
    samples = splits_samples(data_dir, benchmark, splits)
    if previous is None and step == 1:
        return StepPlan(samples, splits, expert_of=task)
    return StepPlan(samples, splits, start=continued(previous) if previous else None)


ADAPTER_ARTIFACT = "adapter"


class BaselineStep(BaseModel):
    key: str  # this step's chain key: the previous step's, this task's data, the settings
    folder: Path
    row: dict[str, float]  # A[step][j] for every task j
    spent: StepCost | None = None  # None in results kept before costs were recorded
    kinds: dict[str, dict[str, float]] = {}  # accuracy per question kind, where several

    def accuracies(self) -> dict[str, float]:
        return self.row

    def question_kinds(self) -> dict[str, dict[str, float]]:
        return self.kinds

    def cost(self) -> StepCost | None:
        return self.spent


class LoraFtStepJob(BenchmarkJob[BaselineStep]):
    """Step `step` (1-based) of LoRA-FT through `tasks`: the previous step's adapter continued on
    task `step` with the expert settings (`train`), then scored on every task."""

    method: str  # the name of the method whose step this is
    tasks: list[str]
    step: int
    replay: bool
    previous: BaselineStep | None
    # The settings the method's own rule reads (its strength, ...): part of each step's key.
    rule_settings: ClassVar[tuple[str, ...]] = ()

    @property
    def title(self) -> str:
        return f"{self.method}-step-{self.step}"

    @property
    def task(self) -> str:
        return self.tasks[self.step - 1]

    @property
    def adapter(self) -> AdapterSettings:
        """The experts' settings: LoRA-FT trains with what MR-LoRA's experts train with."""
        settings = self.settings
        return expert_settings(settings.expert_preset, self.manifest.track, settings.train_seed)

    def key(self) -> str:
        parts = [self.previous.key if self.previous else "", self.benchmark, self.method]
        parts += [self.task, self.manifest.task(self.task).content_hash]
        parts += [self.base.digest, config_digest(self.adapter)]
        return self._with_rule(digest([*parts, *self.test_data(self.tasks)]))

    def _with_rule(self, key: str) -> str:
        if not self.rule_settings:
            return key
        return digest([key, *(getattr(self.settings, name) for name in self.rule_settings)])

    def _folder(self) -> Path:
        return self.settings.models_dir / self.benchmark / self.method / self.key()

    def find(self, tracker: Tracker) -> BaselineStep | None:
        found = tracker.found(self.method, self.key(), BaselineStep)
        if found is None:
            return None
        run_id, step = found
        folder = tracker.restore_folder(run_id, ADAPTER_ARTIFACT, self._folder())
        return step.model_copy(update={"folder": folder})

    def plan(self) -> StepPlan:
        """What this step trains (each method of the family plans its own)."""
        return lora_ft_plan(
            self.settings.data_dir,
            self.benchmark,
            self.tasks,
            self.step,
            self.previous.folder if self.previous else None,
            self.replay,
        )

    def train(self, plan: StepPlan, callbacks: Sequence[TrainerCallback]) -> AdapterRun:
        """This step's adapter, in its folder."""
        settings = self.settings
        return train_step(
            plan,
            self.base,
            self.adapter,
            self._folder(),
            callbacks=callbacks,
            dtype=settings.dtype,
            device=settings.device,
        )

    def _expert(self, task: str) -> tuple[AdapterRecord, TrainingCost] | None:
        """MR-LoRA's expert of `task` (trained now if no run has yet), copied into this step's
        folder (later steps continue the copy, never the registered expert), with what its
        training cost; None for an expert registered without its cost (the step then trains
        its own, the same). Not where experts train on Ray Train workers: this step's Ray task,
        holding its CPUs while it waits for another run's training of that expert, could keep
        the workers that training needs from starting."""
        if self.settings.cluster.train_workers > 1:
            return None
        expert = ExpertJob(scope=self.scope, task=task).run()
        if expert.cost is None:
            return None
        folder = self._folder()
        shutil.rmtree(folder, ignore_errors=True)
        shutil.copytree(expert.folder, folder)
        return expert, expert.cost

    def work(self, tracker: Tracker) -> BaselineStep:
        settings = self.settings
        plan = self.plan()
        tags = {"task": self.task, "step": str(self.step)}
        taken = None if plan.expert_of is None else self._expert(plan.expert_of)
        if taken is not None:
            tags["expert"] = f"{taken[0].name} version {taken[0].version}"
        about = (
            f"Step {self.step} of {self.method} through {' -> '.join(self.tasks)}: the adapter "
            f"trained on {self.task} (its training inputs list the data), then scored on every "
            "task."
        )
        with tracker.run(self.title, self.method, self.key(), about, tags=tags):
            self.log_data(tracker, plan.splits, "training")
            self.log_tests(tracker, self.tasks)
            if taken is None:
                run = self.train(plan, [tracker.loss_callback()])
                log_training(
                    run,
                    {
                        "task": self.task,
                        "step": self.step,
                        "method": self.method,
                        "adapter": self.adapter.model_dump(mode="json"),
                    },
                )
                cost = run.cost()
            else:
                cost = taken[1]
                tracker.log_metrics(  # the expert training's figures, named as a training logs them
                    {
                        "train_seconds": cost.seconds,
                        "trainable_parameters": cost.trainable_parameters,
                        "adapter_bytes": cost.stored_bytes,
                    }
                )
            folder = self._folder()
            tracker.keep_folder(folder, ADAPTER_ARTIFACT)
            evaluation = evaluate_adapter(
                settings.data_dir,
                self.manifest,
                self.tasks,
                self.base,
                folder,
                self.title,
                settings.dtype,
                settings.device,
            )
            log_evaluation(evaluation, self.step)
            spent = StepCost(
                train_seconds=cost.seconds,
                trainable_parameters=cost.trainable_parameters,
                stored_bytes=folder_bytes(folder),  # with what the method keeps beside it
                seconds_per_item=evaluation.seconds_per_item,
            )
            result = BaselineStep(
                key=self.key(),
                folder=folder,
                row=evaluation.accuracies(),
                spent=spent,
                kinds=evaluation.question_kinds(),
            )
            tracker.keep(result)
        return result


class LoraFt(Method[BaselineStep]):
    """Each step one job of `step_job`'s kind, given the previous step's outcome when the
    method's steps build on one another (`chained`)."""

    name = "lora-ft"
    summary = "one LoRA fine-tuned through the tasks in order"
    replay: ClassVar[bool] = False
    step_job: ClassVar[type[LoraFtStepJob]] = LoraFtStepJob
    chained: ClassVar[bool] = True

    def learn(
        self, runner: Runner, context: StepContext, previous: BaselineStep | None
    ) -> BaselineStep:
        job = self.step_job(
            method=self.name,
            scope=context.scope,
            tasks=context.tasks,
            step=context.step,
            replay=self.replay,
            previous=previous if self.chained else None,
        )
        return runner.run(job)


class LoraFtReplay(LoraFt):
    name = "lora-ft-replay"
    summary = "LoRA-FT, each step also trained on the earlier tasks' replay sets"
    replay = True
