"""Joint training, the multitask upper bound of continual-learning tables: at step i one LoRA
is trained from the base on the train splits of tasks 1..i together (with the experts'
settings), as if every task seen so far had been at hand from the start, then scored on every
task. Nothing is learned in sequence, so nothing can be forgotten: the gap between a method and
this row is what learning in order costs it. Its cost grows with the steps: step i retrains on
i tasks' data, T(T+1)/2 tasks' worth of training through a track of T tasks."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from transformers import TrainerCallback

from components.data.build import load_split
from components.methods.lora_ft import LoraFt, LoraFtStepJob
from components.models.base.loading import BaseRef
from components.models.lora.adapters import AdapterRun, train_adapter
from components.models.lora.settings import AdapterSettings
from components.models.samples import training_samples


def joint_step(
    data_dir: Path,
    benchmark: str,
    tasks: Sequence[str],
    step: int,
    base: BaseRef,
    settings: AdapterSettings,
    out: Path,
    callbacks: Sequence[TrainerCallback] = (),
    progress: bool = True,
    dtype: str = "auto",
    device: str = "auto",
) -> AdapterRun:
    """A LoRA trained from the base on the train splits of `tasks[:step]` together."""
    samples = [
        sample
        for task in tasks[:step]
        for sample in training_samples(load_split(data_dir, benchmark, task, "train"))
    ]
    return train_adapter(
        base.name_or_path,
        samples,
        settings,
        out,
        callbacks=callbacks,
        progress=progress,
        dtype=dtype,
        device=device,
    )


class JointStepJob(LoraFtStepJob):
    """Step `step` of joint training: no previous step to continue, every seen task's data."""

    @property
    def method(self) -> str:
        return Joint.name

    def train(self, callbacks: Sequence[TrainerCallback]) -> AdapterRun:
        settings = self.settings
        return joint_step(
            settings.data_dir,
            self.benchmark,
            self.tasks,
            self.step,
            self.base,
            self.adapter,
            self._folder(),
            callbacks=callbacks,
            dtype=settings.dtype,
            device=settings.device,
        )


class Joint(LoraFt):
    name = "joint"
    summary = "one LoRA per step trained on every seen task's data at once (the upper bound)"
    step_job = JointStepJob
    chained = False
