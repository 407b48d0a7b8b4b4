"""The comparison baselines of the MLLM-CL tables. LoRA-FT: one LoRA trained through the tasks
in sequence (each step continues the previous adapter); LoRA-FT with replay: the same, each step
also seeing the replay sets of the earlier tasks. (Oracle and Zero-shot are evaluations: each
expert on its own task, and the base alone; see `experts.evaluate_adapter`.)"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from transformers import TrainerCallback

from components.data.build import load_split
from components.models.adapters import AdapterRun, train_adapter
from components.models.base import BaseRef
from components.models.config import AdapterSettings
from components.models.samples import training_samples


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
