"""Scoring one model on test splits: the base alone (the Zero-shot row) or the base with one
adapter (an expert on its own task, a LoRA-FT step on every task), each task by its official
scorer."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from peft import PeftModel
from transformers import LlavaForConditionalGeneration

from components.data.build import Manifest
from components.evaluation.routed import Evaluation, evaluate_model
from components.models.base.loading import BaseRef, load_base
from components.models.generation import generate_answers
from components.models.lora.adapters import load_adapters


def evaluate_adapter(
    data_dir: Path,
    manifest: Manifest,
    tasks: Sequence[str],
    base: BaseRef,
    adapter: Path | None,
    model_id: str,
    dtype: str = "auto",
    device: str = "auto",
) -> Evaluation:
    """Score the base with `adapter` (or the base alone: Zero-shot) on the tasks' test splits."""
    model: LlavaForConditionalGeneration | PeftModel
    if adapter is None:
        model, processor = load_base(base.name_or_path, dtype, device)
    else:
        model, processor = load_adapters(base.name_or_path, {"adapter": adapter}, dtype, device)
    return evaluate_model(
        lambda samples: generate_answers(model, processor, samples),
        data_dir,
        manifest,
        tasks,
        model_id,
    )
