"""O-LoRA, the orthogonal-subspace baseline (Wang et al., 2023): a new LoRA per task, the earlier
tasks' LoRAs frozen and still summed into every answer, the new one trained on its task alone
with a loss that pushes its A subspace away from theirs
(components/models/lora/orthogonal.py). One adapter answers every task; it grows by the task
rank at each step."""

from __future__ import annotations

from pathlib import Path

from components.methods.lora_ft import LoraFt, LoraFtStepJob, StepPlan
from components.models.lora.orthogonal import Orthogonal, frozen_parameters
from components.models.lora.settings import AdapterSettings
from components.models.samples import task_samples


def olora_plan(
    data_dir: Path,
    benchmark: str,
    task: str,
    previous: Path | None,
    settings: AdapterSettings,
    strength: float,
) -> StepPlan:
    """A fresh LoRA on the first task; after it, the earlier tasks' LoRA grown by a new,
    trainable one that pays `strength` times its overlap with them."""
    samples, splits = task_samples(data_dir, benchmark, task), [(task, "train")]
    if previous is None:
        return StepPlan(samples, splits, expert_of=task)
    grown = Orthogonal(previous, settings, strength)
    return StepPlan(
        samples,
        splits,
        start=grown.start,
        penalty=grown.penalty,
        frozen_parameters=frozen_parameters(previous),
    )


class OLoraStepJob(LoraFtStepJob):
    """Step `step` of O-LoRA: a LoRA for task `step` beside the frozen earlier ones."""

    rule_settings = ("olora_orthogonality",)

    def plan(self) -> StepPlan:
        settings = self.settings
        return olora_plan(
            settings.data_dir,
            self.benchmark,
            self.task,
            self.previous.folder if self.previous else None,
            self.adapter,
            settings.olora_orthogonality,
        )


class OLora(LoraFt):
    name = "o-lora"
    summary = "a LoRA per task in a subspace orthogonal to the earlier, frozen ones"
    step_job = OLoraStepJob
