"""Training and loading LoRA adapters on the base: the experts, the router and the LoRA-FT
baselines all go through `train_adapter`. An adapter is a folder in Hugging Face PEFT format
(adapter_config.json + adapter_model.safetensors, the projector saved with it)."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from peft import LoraConfig, PeftModel, get_peft_model
from pydantic import BaseModel
from transformers import PreTrainedModel, ProcessorMixin, TrainerCallback

from components.models.base.loading import load_base
from components.models.lora.mixture import adapter_config
from components.models.lora.peft_config import AdapterSettings, lora_config
from components.models.lora.training import Penalty, train_model, training_workers
from components.models.prompts import Sample

ADAPTER_WEIGHTS = "adapter_model.safetensors"


def adapter_folder(models_dir: Path, benchmark: str, key: str, task: str | None = None) -> Path:
    """Where a trained adapter lives on this machine: an expert's (with its task) or the
    router's, named by the key of everything it was trained from."""
    if task is None:
        return models_dir / benchmark / "router" / key
    return models_dir / benchmark / "experts" / task / key


# How the adapter to train is put on the base: a fresh one, one trained before, or a method's own.
AdapterStart = Callable[[PreTrainedModel], PeftModel]


def fresh(config: LoraConfig) -> AdapterStart:
    return lambda model: get_peft_model(model, config)


def continued(folder: Path) -> AdapterStart:
    """The adapter saved in `folder`, trainable again (LoRA-FT and its kin)."""
    return lambda model: PeftModel.from_pretrained(
        model, str(folder), is_trainable=True, config=adapter_config(folder)
    )


# Work on the trained model and its processor once the adapter is saved (EWC's Fisher).
AfterTraining = Callable[[PeftModel, ProcessorMixin], None]


class TrainingCost(BaseModel):
    """What training one adapter took, and what it keeps."""

    seconds: float
    trainable_parameters: int
    stored_bytes: int


class AdapterRun(BaseModel):
    folder: Path
    seconds: float
    samples: int
    samples_per_second: float
    adapter_bytes: int
    trainable_parameters: int
    log_history: list[dict]
    workers: int = 1  # the processes that trained it together

    def cost(self) -> TrainingCost:
        return TrainingCost(
            seconds=self.seconds,
            trainable_parameters=self.trainable_parameters,
            stored_bytes=self.adapter_bytes,
        )

    @property
    def losses(self) -> list[float]:
        return [entry["loss"] for entry in self.log_history if "loss" in entry]


def train_adapter(
    base: str,
    samples: Sequence[Sample],
    settings: AdapterSettings,
    out: Path,
    start: AdapterStart | None = None,
    callbacks: Sequence[TrainerCallback] = (),
    progress: bool = True,
    dtype: str = "auto",
    device: str = "auto",
    penalty: Penalty | None = None,
    then: AfterTraining | None = None,
) -> AdapterRun:
    """Train a LoRA adapter on `samples`, put on the base by `start` (default: a fresh one of
    `settings`), its loss plus `penalty(model)` when given, and save it to `out` (written whole,
    then moved into place); `then(model, processor)` runs on the trained model once it is saved."""
    model, processor = load_base(base, dtype=dtype, device=device)
    torch.manual_seed(settings.train.seed)  # the LoRA's initial weights, whatever ran before
    peft_model = (start or fresh(lora_config(settings)))(model)
    if settings.train.gradient_checkpointing:
        peft_model.enable_input_require_grads()  # checkpointed frozen layers still pass gradients
    trainable = sum(p.numel() for p in peft_model.parameters() if p.requires_grad)
    partial = out.with_name(out.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    started = time.perf_counter()
    history = train_model(
        peft_model,
        processor,
        samples,
        settings.train,
        partial / "trainer",
        callbacks,
        progress,
        penalty,
    )
    seconds = time.perf_counter() - started
    shutil.rmtree(partial / "trainer", ignore_errors=True)
    peft_model.save_pretrained(str(partial))
    shutil.rmtree(out, ignore_errors=True)
    partial.rename(out)
    if then is not None:
        then(peft_model, processor)
    return AdapterRun(
        folder=out,
        seconds=seconds,
        samples=len(samples),
        samples_per_second=len(samples) * settings.train.epochs / seconds,
        adapter_bytes=(out / ADAPTER_WEIGHTS).stat().st_size,
        trainable_parameters=trainable,
        log_history=history,
        workers=training_workers(),
    )


def load_adapters(
    base: str, adapters: dict[str, Path], dtype: str = "auto", device: str = "auto"
) -> tuple[PeftModel, ProcessorMixin]:
    """The base with several named adapters loaded side by side (switch with `set_adapter`)."""
    model, processor = load_base(base, dtype=dtype, device=device)
    names = list(adapters)
    first = adapters[names[0]]
    peft_model = PeftModel.from_pretrained(
        model, str(first), adapter_name=names[0], config=adapter_config(first)
    )
    for name in names[1:]:
        peft_model.add_adapter(name, adapter_config(adapters[name]))  # a mixture's layers too
        peft_model.load_adapter(str(adapters[name]), adapter_name=name)
    peft_model.eval()
    return peft_model, processor
