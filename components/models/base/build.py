"""The tiny CPU base, built and pretrained here once per config and reused."""

from __future__ import annotations

import shutil
import time
from collections.abc import Sequence
from pathlib import Path

import torch
from pydantic import BaseModel
from transformers import (
    TrainerCallback,
)

from components.models.base.loading import BaseRef, base_ref
from components.models.base.pretraining import pretraining_samples, tokenizer_corpus
from components.models.base.tiny import (
    TinyBaseConfig,
    build_model,
    build_processor,
    train_tokenizer,
)
from components.models.lora.training import TrainSettings, train_model


class TinyBuild(BaseModel):
    ref: BaseRef
    config: TinyBaseConfig
    built: bool
    seconds: float
    log_history: list[dict] = []
    parameters: int = 0


def tiny_base_folder(models_dir: Path, config: TinyBaseConfig) -> Path:
    return models_dir / f"tiny-base-{config.digest()}"


def ensure_tiny_base(
    models_dir: Path,
    config: TinyBaseConfig,
    progress: bool = True,
    callbacks: Sequence[TrainerCallback] = (),
) -> TinyBuild:
    """Build and pretrain the tiny base unless this config was built before."""
    folder = tiny_base_folder(models_dir, config)
    if (folder / "config.json").is_file():
        return TinyBuild(ref=base_ref(str(folder)), config=config, built=False, seconds=0.0)
    started = time.perf_counter()
    torch.manual_seed(config.seed)
    samples = list(pretraining_samples(config.pretrain_samples, config.seed))
    tokenizer = train_tokenizer(tokenizer_corpus(samples), config.vocab_size)
    processor = build_processor(tokenizer, config)
    model = build_model(tokenizer, config)
    partial = folder.with_name(folder.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    history = train_model(
        model,
        processor,
        samples,
        TrainSettings(
            epochs=config.pretrain_epochs,
            learning_rate=config.pretrain_lr,
            batch_size=config.pretrain_batch,
            warmup_ratio=0.05,
            seed=config.seed,
        ),
        workdir=partial / "trainer",
        callbacks=callbacks,
        progress=progress,
    )
    shutil.rmtree(partial / "trainer", ignore_errors=True)
    model.save_pretrained(partial)
    processor.save_pretrained(partial)
    partial.rename(folder)
    return TinyBuild(
        ref=base_ref(str(folder)),
        config=config,
        built=True,
        seconds=time.perf_counter() - started,
        log_history=history,
        parameters=sum(p.numel() for p in model.parameters()),
    )
