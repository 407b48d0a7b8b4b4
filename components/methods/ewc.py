"""EWC on the LoRA parameters, the regularisation baseline (Kirkpatrick et al., 2017): one LoRA
trained through the tasks in order as in LoRA-FT, each step's loss also paying for moving the
adapter's trainable parameters away from where the earlier tasks left them, weighted by how much
those tasks depend on each (their diagonal Fisher information, taken after each task on its own
training data: components/models/lora/consolidation.py). The consolidation travels with the
adapter, in its folder."""

from __future__ import annotations

from pathlib import Path

from peft import PeftModel
from transformers import ProcessorMixin

from components.methods.lora_ft import LoraFt, LoraFtStepJob, StepPlan
from components.models.lora.adapters import continued
from components.models.lora.consolidation import Consolidation, diagonal_fisher
from components.models.samples import task_samples


def ewc_plan(
    data_dir: Path,
    benchmark: str,
    task: str,
    out: Path,
    previous: Path | None,
    strength: float,
    fisher_samples: int,
) -> StepPlan:
    """Continue `previous` (or start from the base) on `task` under the earlier tasks' penalty,
    then add this task's Fisher, taken on up to `fisher_samples` of its training samples (spread
    evenly), to the consolidation saved beside the adapter in `out`."""
    samples = task_samples(data_dir, benchmark, task)
    before = (
        Consolidation.none(strength) if previous is None else Consolidation.load(previous, strength)
    )

    def consolidate(trained: PeftModel, processor: ProcessorMixin) -> None:
        stride = max(1, len(samples) // fisher_samples)
        fisher = diagonal_fisher(trained, processor, samples[::stride][:fisher_samples])
        before.then(trained, fisher).save(out)

    return StepPlan(
        samples,
        [(task, "train")],
        start=continued(previous) if previous else None,
        penalty=before.penalty,
        then=consolidate,
    )


class EwcStepJob(LoraFtStepJob):
    """Step `step` of EWC: LoRA-FT's step under the earlier tasks' penalty."""

    rule_settings = ("ewc_strength", "fisher_samples")

    def plan(self) -> StepPlan:
        settings = self.settings
        return ewc_plan(
            settings.data_dir,
            self.benchmark,
            self.task,
            self._folder(),
            self.previous.folder if self.previous else None,
            settings.ewc_strength,
            settings.fisher_samples,
        )


class Ewc(LoraFt):
    name = "ewc"
    summary = "LoRA-FT with elastic weight consolidation of the LoRA parameters"
    step_job = EwcStepJob
