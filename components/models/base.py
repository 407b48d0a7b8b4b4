"""The base MLLM: any Hugging Face LLaVA checkpoint (local folder or hub id), or the tiny CPU
base built here once per config and reused."""

from __future__ import annotations

import hashlib
import shutil
import time
from collections.abc import Sequence
from pathlib import Path

import torch
from pydantic import BaseModel
from transformers import (
    AutoProcessor,
    LlavaForConditionalGeneration,
    ProcessorMixin,
    TrainerCallback,
)

from components.models.pretrain_data import pretraining_samples, tokenizer_corpus
from components.models.tiny import TinyBaseConfig, build_model, build_processor, train_tokenizer
from components.models.training import TrainSettings, train_model

TINY = "tiny"


class BaseRef(BaseModel):
    """Where the base lives and a digest that changes whenever its weights could."""

    name_or_path: str
    digest: str


def resolve_dtype(dtype: str) -> torch.dtype:
    """`auto`: bfloat16 on a GPU, float32 on a CPU."""
    if dtype == "auto":
        return torch.bfloat16 if torch.cuda.is_available() else torch.float32
    return getattr(torch, dtype)


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def load_base(
    name_or_path: str, dtype: str = "auto", device: str = "auto"
) -> tuple[LlavaForConditionalGeneration, ProcessorMixin]:
    """A LLaVA and its processor from a local folder or a hub id (network only if asked)."""
    model = LlavaForConditionalGeneration.from_pretrained(name_or_path, dtype=resolve_dtype(dtype))
    processor = AutoProcessor.from_pretrained(name_or_path)
    # transformers types the `.to` of its models as an unbound function
    return model.to(resolve_device(device)), processor  # type: ignore[arg-type]


def folder_digest(folder: Path) -> str:
    """SHA-256 over the config and weight files of a saved model."""
    digest = hashlib.sha256()
    for path in sorted(folder.glob("*")):
        if path.is_file() and path.suffix in {".json", ".safetensors", ".model", ".txt"}:
            digest.update(path.name.encode() + b"\0")
            with path.open("rb") as handle:
                digest.update(hashlib.file_digest(handle, "sha256").digest())
    return digest.hexdigest()[:16]


def base_ref(name_or_path: str) -> BaseRef:
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        return BaseRef(name_or_path=str(path.resolve()), digest=folder_digest(path))
    return BaseRef(
        name_or_path=name_or_path, digest=hashlib.sha256(name_or_path.encode()).hexdigest()[:16]
    )


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
