"""MoELoRA, the mixture-of-LoRA-experts baseline of CoIN (Chen et al., 2024): each adapted layer's
LoRA split into experts mixed per token by a learned gate (components/models/lora/mixture.py),
trained through the tasks in order as LoRA-FT is: one adapter continued from task to task, gate
and experts alike, with nothing that keeps a task's experts for it."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from components.methods.lora_ft import LoraFt, LoraFtStepJob, StepPlan, lora_ft_plan
from components.models.lora.adapters import fresh
from components.models.lora.mixture import mixture_config
from components.models.lora.peft_config import lora_config
from components.models.lora.settings import AdapterSettings


def moelora_plan(
    data_dir: Path,
    benchmark: str,
    tasks: Sequence[str],
    step: int,
    previous: Path | None,
    settings: AdapterSettings,
    experts: int,
) -> StepPlan:
    """LoRA-FT's step, its adapter a mixture of `experts` LoRA experts in each layer."""
    plan = lora_ft_plan(data_dir, benchmark, tasks, step, previous)
    if previous is not None:
        return plan  # the saved mixture, continued
    return StepPlan(
        plan.samples, plan.splits, start=fresh(mixture_config(lora_config(settings), experts))
    )


class MoeLoraStepJob(LoraFtStepJob):
    """Step `step` of MoELoRA: the mixture continued on task `step`."""

    rule_settings = ("moelora_experts",)

    def plan(self) -> StepPlan:
        settings = self.settings
        return moelora_plan(
            settings.data_dir,
            self.benchmark,
            self.tasks,
            self.step,
            self.previous.folder if self.previous else None,
            self.adapter,
            settings.moelora_experts,
        )


class MoeLora(LoraFt):
    name = "moelora"
    summary = "LoRA experts mixed by a learned gate, trained through the tasks in order"
    step_job = MoeLoraStepJob
