"""LoRA-FT, the sequential fine-tuning baseline of the MLLM-CL tables: one LoRA trained through
the tasks in order, each step continuing the previous step's adapter on the next task's data
(with the experts' settings), so nothing protects what earlier tasks taught it. LoRA-FT with
replay: the same, each step also seeing the replay sets of the tasks before it."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

from pydantic import BaseModel
from transformers import TrainerCallback

from components.data.build import load_split
from components.jobs.job import BenchmarkJob, digest
from components.methods.method import Method, Runner, StepContext
from components.models.base.loading import BaseRef
from components.models.lora.adapters import AdapterRun, train_adapter
from components.models.lora.settings import AdapterSettings
from components.models.mrlora.experts import config_digest, expert_settings
from components.models.samples import training_samples
from components.models.scoring import evaluate_adapter
from components.registry.evaluations import log_evaluation
from components.registry.models import log_training
from components.registry.tracker import Tracker


def lora_ft_step(
    data_dir: Path,
    benchmark: str,
    tasks: Sequence[str],
    step: int,
    base: BaseRef,
    settings: AdapterSettings,
    out: Path,
    previous: Path | None,
    replay: bool = False,
    callbacks: Sequence[TrainerCallback] = (),
    progress: bool = True,
    dtype: str = "auto",
    device: str = "auto",
) -> AdapterRun:
    """Step `step` (1-based) of the sequence: continue `previous` on task `tasks[step-1]` (plus
    the replay sets of the tasks before it, with `replay`)."""
    task = tasks[step - 1]
    samples = training_samples(load_split(data_dir, benchmark, task, "train"))
    if replay:
        for earlier in tasks[: step - 1]:
            samples += training_samples(load_split(data_dir, benchmark, earlier, "replay"))
    return train_adapter(
        base.name_or_path,
        samples,
        settings,
        out,
        start_from=previous,
        callbacks=callbacks,
        progress=progress,
        dtype=dtype,
        device=device,
    )


ADAPTER_ARTIFACT = "adapter"


class BaselineStep(BaseModel):
    key: str  # this step's chain key: the previous step's, this task's data, the settings
    folder: Path
    row: dict[str, float]  # A[step][j] for every task j

    def accuracies(self) -> dict[str, float]:
        return self.row


def method_name(replay: bool) -> str:
    return "lora-ft-replay" if replay else "lora-ft"


class LoraFtStepJob(BenchmarkJob[BaselineStep]):
    """Step `step` (1-based) of LoRA-FT through `tasks`: the previous step's adapter continued on
    task `step` with the expert settings (`train`), then scored on every task."""

    tasks: list[str]
    step: int
    replay: bool
    previous: BaselineStep | None

    @property
    def method(self) -> str:
        return method_name(self.replay)

    @property
    def title(self) -> str:
        return f"{self.method}-step-{self.step}"

    @property
    def task(self) -> str:
        return self.tasks[self.step - 1]

    @property
    def adapter(self) -> AdapterSettings:
        """The experts' settings: LoRA-FT trains with what MR-LoRA's experts train with."""
        return expert_settings(self.settings.expert_preset, self.manifest.track)

    def key(self) -> str:
        parts = [self.previous.key if self.previous else "", self.benchmark, self.method]
        parts += [self.task, self.manifest.task(self.task).content_hash]
        parts += [self.base.digest, config_digest(self.adapter)]
        return digest([*parts, *self.test_data(self.tasks)])

    def _folder(self) -> Path:
        return self.settings.models_dir / self.benchmark / self.method / self.key()

    def find(self, tracker: Tracker) -> BaselineStep | None:
        found = tracker.found(self.method, self.key(), BaselineStep)
        if found is None:
            return None
        run_id, step = found
        folder = tracker.restore_folder(run_id, ADAPTER_ARTIFACT, self._folder())
        return step.model_copy(update={"folder": folder})

    def train(self, callbacks: Sequence[TrainerCallback]) -> AdapterRun:
        """This step's adapter, in its folder."""
        settings = self.settings
        return lora_ft_step(
            settings.data_dir,
            self.benchmark,
            self.tasks,
            self.step,
            self.base,
            self.adapter,
            self._folder(),
            self.previous.folder if self.previous else None,
            self.replay,
            callbacks=callbacks,
            dtype=settings.dtype,
            device=settings.device,
        )

    def work(self, tracker: Tracker) -> BaselineStep:
        settings = self.settings
        adapter = self.adapter
        tags = {"task": self.task, "step": str(self.step)}
        with tracker.run(self.title, self.method, self.key(), tags=tags):
            run = self.train([tracker.loss_callback()])
            log_training(
                run,
                {
                    "task": self.task,
                    "step": self.step,
                    "method": self.method,
                    "adapter": adapter.model_dump(mode="json"),
                },
            )
            tracker.keep_folder(run.folder, ADAPTER_ARTIFACT)
            evaluation = evaluate_adapter(
                settings.data_dir,
                self.manifest,
                self.tasks,
                self.base,
                run.folder,
                self.title,
                settings.dtype,
                settings.device,
            )
            log_evaluation(evaluation, self.step)
            result = BaselineStep(key=self.key(), folder=run.folder, row=evaluation.accuracies())
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
