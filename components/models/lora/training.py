"""One training loop for every adapter and for the tiny base: the Hugging Face Trainer, so the
same code runs on a laptop CPU and on multi-GPU machines (accelerate / DDP / DeepSpeed)."""

from __future__ import annotations

import dataclasses
import gc
import os
import random
import threading
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path

import torch
from transformers import (
    ProcessorMixin,
    Trainer,
    TrainerCallback,
    TrainingArguments,
)
from transformers.loss.loss_utils import fixed_cross_entropy

from components.models.lora.augment import photometric
from components.models.lora.settings import TrainSettings
from components.models.prompts import (
    IGNORE_INDEX,
    Sample,
    TrainingExample,
    collate_training,
    encode_example,
)

# HF Trainer / accelerate keep process-wide state (AcceleratorState): two Trainers in threads of
# one process (Prefect's default thread task runner) break each other. Trainings in one process
# take turns; a process or cluster task runner (Dask, Ray) runs experts truly in parallel.
# TORCH_ON_ONE_THREAD: on a CPU, keep a process's torch work on one thread. Each thread that
# runs torch ops gets its own OpenMP team, and once the teams outnumber the cores every step
# slows.
_ONE_TRAINER_AT_A_TIME = threading.Lock()


class SampleList(torch.utils.data.Dataset):
    """The samples, each image recoloured with probability `augment` (components.models.augment):
    a fresh draw every epoch, reproducible from `seed` (the data loader runs in this process)."""

    def __init__(self, samples: Sequence[Sample], augment: float = 0.0, seed: int = 0) -> None:
        self.samples = samples
        self.augment = augment
        self.rng = random.Random(seed)

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> Sample:
        sample = self.samples[index]
        if self.augment and self.rng.random() < self.augment:
            return dataclasses.replace(sample, image=photometric(sample.image, self.rng))
        return sample


# What the encodings kept between epochs may take: every CPU-preset task many times over; a large
# dataset of full-size images keeps its first ones and encodes the rest again each epoch.
ENCODING_CACHE_BYTES = 2 * 1024**3


class EncodedSamples(torch.utils.data.Dataset):
    """The samples encoded for training, each encoded once and kept (while the kept encodings
    fit in `budget` bytes): a training reads every sample once an epoch, and encoding it (the
    image's pixels, the prompt's tokens) costs a sixth of a step on a tiny base. A sample whose
    image was recoloured this epoch is encoded afresh."""

    def __init__(
        self, samples: SampleList, processor: ProcessorMixin, budget: int = ENCODING_CACHE_BYTES
    ) -> None:
        self.samples = samples
        self.processor = processor
        self.budget = budget
        self.kept: dict[int, TrainingExample] = {}

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> TrainingExample:
        sample = self.samples[index]
        if sample is not self.samples.samples[index]:  # recoloured this epoch
            return encode_example(self.processor, sample)
        if index not in self.kept:
            example = encode_example(self.processor, sample)
            if example.nbytes > self.budget:
                return example
            self.budget -= example.nbytes
            self.kept[index] = example
        return self.kept[index]


def optimizer(model: torch.nn.Module, settings: TrainSettings) -> torch.optim.Optimizer | None:
    """AdamW with the modules an adapter trains in full (peft's modules_to_save: the projector,
    the vocabulary copies) at `full_modules_lr_ratio` of the learning rate; None (the Trainer's
    own) when the ratio is 1."""
    if settings.full_modules_lr_ratio == 1.0:
        return None
    full: list[torch.nn.Parameter] = []
    low_rank: list[torch.nn.Parameter] = []
    for name, parameter in model.named_parameters():
        if parameter.requires_grad:
            (full if "modules_to_save" in name else low_rank).append(parameter)
    groups = [
        {"params": params, "lr": settings.learning_rate * ratio}
        for params, ratio in ((low_rank, 1.0), (full, settings.full_modules_lr_ratio))
        if params
    ]
    return torch.optim.AdamW(groups, lr=settings.learning_rate, weight_decay=settings.weight_decay)


def answer_token_loss(
    outputs, labels: torch.Tensor, num_items_in_batch: torch.Tensor | int | None = None
) -> torch.Tensor:
    """The causal-LM loss of Hugging Face (same reduction), on logits the model computed only
    at the positions that predict a label (the batch's `logits_to_keep` mask): the answer is a
    few tokens of a long prompt, and projecting every prompt position onto the vocabulary would be
    wasted work."""
    next_tokens = labels[:, 1:]
    targets = next_tokens[next_tokens != IGNORE_INDEX]  # the mask's order: row by row
    logits = outputs.logits.float().reshape(-1, outputs.logits.shape[-1])
    # typed Tensor | None, but it divides by the int the Trainer may pass just the same
    return fixed_cross_entropy(logits, targets.to(logits.device), num_items_in_batch)  # type: ignore[arg-type]


def training_workers() -> int:
    """How many processes train together (WORLD_SIZE, set by Ray Train or a distributed
    launcher)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def per_worker_batch(settings: TrainSettings) -> int:
    """`batch_size` is the batch of one optimizer step across all the processes that train
    together: the same recipe takes the same steps on one worker or on several."""
    workers = training_workers()
    if settings.batch_size % workers:
        raise ValueError(
            f"batch_size {settings.batch_size} does not split over {workers} training workers: "
            "choose a batch size that the worker count divides"
        )
    return settings.batch_size // workers


def run_trainer(
    model: torch.nn.Module,
    dataset: torch.utils.data.Dataset,
    settings: TrainSettings,
    workdir: Path,
    callbacks: Sequence[TrainerCallback] = (),
    progress: bool = True,
    **trainer_options,
) -> list[dict]:
    """The Hugging Face Trainer on `dataset` with `settings`; returns its log history.
    `trainer_options` go to the Trainer (a collator, optimizers, a loss function)."""
    with _ONE_TRAINER_AT_A_TIME:  # TrainingArguments sets up accelerate state too
        args = TrainingArguments(
            output_dir=str(workdir),
            num_train_epochs=settings.epochs,
            learning_rate=settings.learning_rate,
            per_device_train_batch_size=per_worker_batch(settings),
            gradient_accumulation_steps=settings.gradient_accumulation,
            lr_scheduler_type=settings.scheduler,
            warmup_steps=settings.warmup_ratio,  # a float below 1 is a ratio of all steps
            weight_decay=settings.weight_decay,
            seed=settings.seed,
            data_seed=settings.seed,
            bf16=settings.bf16 and torch.cuda.is_available(),
            activation_checkpointing=settings.gradient_checkpointing,
            use_cpu=not torch.cuda.is_available(),
            logging_steps=5,
            save_strategy="no",
            report_to="none",
            remove_unused_columns=False,
            dataloader_num_workers=0,
            disable_tqdm=not progress,
        )
        trainer = Trainer(
            model=model,
            args=args,
            train_dataset=dataset,
            callbacks=list(callbacks),
            **trainer_options,
        )
        trainer.train()
        history = trainer.state.log_history
        # The Trainer and its accelerator hold the model, optimizer and data in reference
        # cycles: freed now, not at some later collection, so the next training does not run
        # beside them.
        trainer.accelerator.free_memory()
        del trainer
        gc.collect()
    return history


Penalty = Callable[[torch.nn.Module], torch.Tensor]


def _penalised(model: torch.nn.Module, penalty: Penalty | None) -> Callable[..., torch.Tensor]:
    """The answer-token loss, plus `penalty(model)` (a regulariser on the weights) when given."""
    if penalty is None:
        return answer_token_loss

    def loss(outputs, labels: torch.Tensor, num_items_in_batch=None) -> torch.Tensor:
        return answer_token_loss(outputs, labels, num_items_in_batch) + penalty(model)

    return loss


def train_model(
    model: torch.nn.Module,
    processor: ProcessorMixin,
    samples: Sequence[Sample],
    settings: TrainSettings,
    workdir: Path,
    callbacks: Sequence[TrainerCallback] = (),
    progress: bool = True,
    penalty: Penalty | None = None,
) -> list[dict]:
    """Train `model` (its trainable parameters) on samples, the loss plus `penalty(model)` when
    given; returns the Trainer's log history."""
    return run_trainer(
        model,
        EncodedSamples(SampleList(samples, settings.augment_images, settings.seed), processor),
        settings,
        workdir,
        callbacks,
        progress,
        data_collator=partial(collate_training, processor.tokenizer.pad_token_id),
        optimizers=(optimizer(model, settings), None),  # the scheduler comes from `args`
        compute_loss_func=_penalised(model, penalty),
    )
