"""A shallow MLLM router: it reads image and question through the first N decoder layers of the
language model only, then the final norm and its output head, and answers the letter there.
Telling a few tasks apart takes less than answering them, and the router's pass reads about as
many tokens as the expert's own prompt: each layer cut saves its share of the router's pass. The
depth is trained in (LoRA on those layers only, the layers above cut off) and saved beside the
router's adapter, so that every bundle runs the router as it was trained."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from pydantic import BaseModel, Field, StrictInt, ValidationError
from transformers import PreTrainedModel, TrainerCallback

from components.models.lora.adapters import AdapterRun, fresh, train_adapter
from components.models.lora.peft_config import lora_config
from components.models.lora.settings import RouterAdapterSettings
from components.models.prompts import Sample

DEPTH_FILE = "router_depth.json"


def _language_model(llava: Any) -> Any:
    return llava.model.language_model


def _cut(llava: Any, layers: int) -> tuple[torch.nn.ModuleList, int]:
    """The language model left with its first `layers` decoder layers; what it had before."""
    language = _language_model(llava)
    kept, count = language.layers, language.config.num_hidden_layers
    if not 1 <= layers <= count:
        raise ValueError(
            f"a router of {layers} language layers: this base's language model has {count} "
            "(the router preset's language_layers)"
        )
    language.layers = torch.nn.ModuleList(list(kept)[:layers])
    language.config.num_hidden_layers = layers  # the caches it makes hold as many layers
    return kept, count


@contextmanager
def first_layers(llava: Any, layers: int | None) -> Iterator[None]:
    """For a pass of the router through a model the experts share: the first `layers` decoder
    layers only (all when None), every layer again afterwards."""
    if layers is None:
        yield
        return
    kept, count = _cut(llava, layers)
    try:
        yield
    finally:
        language = _language_model(llava)
        language.layers, language.config.num_hidden_layers = kept, count


class RouterDepth(BaseModel, frozen=True):
    """What `router_depth.json` holds: None, every layer."""

    language_layers: StrictInt | None = Field(None, ge=1)


def save_depth(folder: Path, layers: int | None) -> None:
    record = RouterDepth(language_layers=layers)
    (folder / DEPTH_FILE).write_text(record.model_dump_json(), encoding="utf-8")


def read_depth(folder: Path) -> int | None:
    """The router's depth; a router saved without the file reads through every layer."""
    path = folder / DEPTH_FILE
    if not path.is_file():
        return None
    try:
        return RouterDepth.model_validate_json(path.read_text(encoding="utf-8")).language_layers
    except ValidationError as error:
        raise ValueError(
            f"{path}: language_layers must be a positive integer or null: not a router depth "
            f"record ({error.errors()[0]['msg']})"
        ) from error


def train_router(
    base: str,
    samples: Sequence[Sample],
    settings: RouterAdapterSettings,
    out: Path,
    callbacks: Sequence[TrainerCallback] = (),
    progress: bool = True,
    dtype: str = "auto",
    device: str = "auto",
) -> AdapterRun:
    """The MLLM router's LoRA trained on `samples` at the depth its settings give, which is
    saved with it."""
    layers = settings.language_layers
    config = lora_config(settings, layers)

    def start(model: PreTrainedModel):
        if layers is not None:
            _cut(model, layers)
        return fresh(config)(model)

    run = train_adapter(
        base, samples, settings, out, start, callbacks, progress, dtype=dtype, device=device
    )
    save_depth(run.folder, layers)
    return run
