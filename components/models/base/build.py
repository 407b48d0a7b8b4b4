"""The tiny CPU base: built and pretrained here once per config (the vision tower on drawn
scenes, then the language model and projector on questions about them), or, for the shipped
config, taken from the copy the repository carries after its digest is checked."""

from __future__ import annotations

import os
import platform
import shutil
import time
from collections.abc import Sequence
from pathlib import Path

import torch
from pydantic import BaseModel
from transformers import TrainerCallback

from components.models.base.loading import BUILD_RECORD, BaseRef, base_ref, folder_digest
from components.models.base.pretraining import (
    held_out_accuracy,
    pretraining_samples,
    tokenizer_corpus,
)
from components.models.base.tiny import (
    TinyBaseConfig,
    build_model,
    build_processor,
    train_tokenizer,
    vision_config,
)
from components.models.base.vision_pretraining import pretrain_tower
from components.models.lora.settings import TrainSettings
from components.models.lora.training import train_model

SHIPPED = Path(__file__).with_name("shipped")


class TinyBuild(BaseModel):
    ref: BaseRef
    config: TinyBaseConfig
    built: bool
    seconds: float
    log_history: list[dict] = []  # the language stage's Trainer log
    tower_history: list[dict] = []  # the vision stage's
    parameters: int = 0
    held_out: dict[str, float] = {}  # exact-match accuracy on fresh mixture questions


class BuildRecord(BaseModel):
    """What a built base keeps beside its weights (build.json)."""

    config: TinyBaseConfig
    digest: str
    seconds: float
    parameters: int
    held_out: dict[str, float]
    command: str
    machine: str


def tiny_base_folder(models_dir: Path, config: TinyBaseConfig) -> Path:
    return models_dir / f"tiny-base-{config.digest()}"


def read_build_record(folder: Path) -> BuildRecord | None:
    path = folder / BUILD_RECORD
    if not path.is_file():
        return None
    try:
        return BuildRecord.model_validate_json(path.read_text(encoding="utf-8"))
    except ValueError as error:
        raise ValueError(f"{path}: not a tiny base build record ({error})") from error


def shipped_build(config: TinyBaseConfig, shipped: Path = SHIPPED) -> BuildRecord | None:
    """The shipped base's record if it is a build of this config."""
    record = read_build_record(shipped)
    return record if record is not None and record.config == config else None


def copy_shipped(folder: Path, record: BuildRecord, shipped: Path = SHIPPED) -> None:
    """The shipped base into `folder`, its files checked against the recorded digest first."""
    found = folder_digest(shipped)
    if found != record.digest:
        raise ValueError(
            f"{shipped}: the shipped tiny base's files hash to {found}, its {BUILD_RECORD} "
            f"records {record.digest}; rebuild it with `mllmcl base build-tiny --ship`"
        )
    _copy_whole(shipped, folder)


def ensure_tiny_base(
    models_dir: Path,
    config: TinyBaseConfig,
    progress: bool = True,
    callbacks: Sequence[TrainerCallback] = (),
    tower_callbacks: Sequence[TrainerCallback] = (),
    workers: int | None = None,
    shipped: Path = SHIPPED,
) -> TinyBuild:
    """This config's base: the one built here before, else the shipped one when it is a build
    of this config, else built and pretrained now."""
    folder = tiny_base_folder(models_dir, config)
    if not (folder / "config.json").is_file():
        record = shipped_build(config, shipped)
        if record is None:
            return build_tiny_base(folder, config, progress, callbacks, tower_callbacks, workers)
        copy_shipped(folder, record, shipped)
    record = read_build_record(folder)
    return TinyBuild(
        ref=base_ref(str(folder)),
        config=config,
        built=False,
        seconds=record.seconds if record else 0.0,
        parameters=record.parameters if record else 0,
        held_out=record.held_out if record else {},
    )


def build_tiny_base(
    folder: Path,
    config: TinyBaseConfig,
    progress: bool = True,
    callbacks: Sequence[TrainerCallback] = (),
    tower_callbacks: Sequence[TrainerCallback] = (),
    workers: int | None = None,
    command: str = "",
) -> TinyBuild:
    """Pretrain a tiny base from nothing into `folder` (replaced once complete). `callbacks`
    follow the language stage's Trainer, `tower_callbacks` the vision stage's."""
    started = time.perf_counter()
    partial = folder.with_name(folder.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    tower, tower_history = pretrain_tower(
        vision_config(config), config, partial / "trainer", workers, tower_callbacks, progress
    )
    drawn = list(pretraining_samples(config.pretrain_samples, config.seed))
    samples = [sample for sample, _ in drawn]
    torch.manual_seed(config.seed)
    tokenizer = train_tokenizer(tokenizer_corpus(samples), config.vocab_size)
    processor = build_processor(tokenizer, config)
    model = build_model(tokenizer, config)
    vision = model.model.vision_tower
    vision.load_state_dict(tower.state_dict())
    vision.requires_grad_(False)  # as LLaVA does: the pretrained tower stays as it is
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
    vision.requires_grad_(True)
    shutil.rmtree(partial / "trainer", ignore_errors=True)
    held_out = held_out_accuracy(model, processor, config.held_out_questions, config.seed)
    model.save_pretrained(partial)
    processor.save_pretrained(partial)
    parameters = sum(p.numel() for p in model.parameters())
    seconds = time.perf_counter() - started
    record = BuildRecord(
        config=config,
        digest=folder_digest(partial),
        seconds=round(seconds, 1),
        parameters=parameters,
        held_out={k: round(v, 4) for k, v in held_out.items()},
        command=command,
        machine=_machine(),
    )
    (partial / BUILD_RECORD).write_text(record.model_dump_json(indent=1) + "\n", encoding="utf-8")
    shutil.rmtree(folder, ignore_errors=True)
    partial.rename(folder)
    return TinyBuild(
        ref=base_ref(str(folder)),
        config=config,
        built=True,
        seconds=seconds,
        log_history=history,
        tower_history=tower_history,
        parameters=parameters,
        held_out=held_out,
    )


def ship(folder: Path, shipped: Path = SHIPPED) -> None:
    """Make a built base the one the repository carries."""
    if read_build_record(folder) is None:
        raise ValueError(f"{folder}: no {BUILD_RECORD}; only a base built here can be shipped")
    _copy_whole(folder, shipped)


def _copy_whole(source: Path, target: Path) -> None:
    """`source` copied to `target`, which appears (or is replaced) only once complete."""
    partial = target.with_name(target.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    shutil.copytree(source, partial)
    shutil.rmtree(target, ignore_errors=True)
    partial.rename(target)


def _machine() -> str:
    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "CPU"
    return f"{platform.machine()}, {os.cpu_count()} cores, {device}"
