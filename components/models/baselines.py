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


def lora_ft_sequence(
    data_dir: Path,
    benchmark: str,
    tasks: Sequence[str],
    base: BaseRef,
    settings: AdapterSettings,
    out: Path,
    replay: bool = False,
    callbacks: Sequence[TrainerCallback] = (),
    progress: bool = True,
    dtype: str = "auto",
    device: str = "auto",
) -> list[AdapterRun]:
    """One adapter per step i (saved as out/step-i-<task>), each continuing step i-1."""
    runs: list[AdapterRun] = []
    for step, task in enumerate(tasks, start=1):
        samples = training_samples(load_split(data_dir, benchmark, task, "train"))
        if replay:
            for earlier in tasks[: step - 1]:
                samples += training_samples(load_split(data_dir, benchmark, earlier, "router"))
        runs.append(
            train_adapter(
                base.name_or_path,
                samples,
                settings,
                out / f"step-{step}-{task}",
                start_from=runs[-1].folder if runs else None,
                callbacks=callbacks,
                progress=progress,
                dtype=dtype,
                device=device,
            )
        )
    return runs
