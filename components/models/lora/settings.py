"""Adapter and training hyper-parameters as plain data (no torch import), and their presets
(presets.yaml)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal, TypeVar

import yaml
from pydantic import BaseModel, Field


class TrainSettings(BaseModel, frozen=True):
    epochs: float = 3.0
    learning_rate: float = 2e-5
    batch_size: int = 16
    gradient_accumulation: int = 1
    scheduler: str = "cosine"
    warmup_ratio: float = 0.03
    weight_decay: float = 0.0
    seed: int = 0
    bf16: bool = False
    gradient_checkpointing: bool = False  # trades compute for memory on large bases
    # The learning rate of the modules an adapter trains in full (projector, vocabulary copies)
    # relative to the LoRA's: a high rate that suits the LoRA can wreck them.
    full_modules_lr_ratio: float = 1.0
    # The share of training images seen recoloured each epoch (components/models/lora/augment.py).
    augment_images: float = 0.0


PresetName = Literal["official", "cpu"]


class AdapterSettings(BaseModel, frozen=True):
    rank: int
    alpha: int
    dropout: float = 0.05
    vision: bool = False  # also adapt the vision tower (the ability track does)
    # Also train the token embeddings and output head (own copies per adapter). A real LLM
    # already speaks the answer vocabulary; the tiny base has not seen it, so the CPU presets
    # train these too. The official presets leave them frozen, as the paper does.
    train_vocabulary: bool = False
    train: TrainSettings


class RouterAdapterSettings(AdapterSettings, frozen=True):
    # The MLLM router reads image and question through the first N layers of the language model
    # only, then the final norm and the output head (components/models/mrlora/router_depth.py);
    # None: every layer, as the paper's router does.
    language_layers: int | None = Field(None, ge=1)


AdapterSettingsT = TypeVar("AdapterSettingsT", bound=AdapterSettings)


def seeded(settings: AdapterSettingsT, seed: int) -> AdapterSettingsT:
    """The settings, training from `seed` (the LoRA's initial weights and the data order)."""
    return settings.model_copy(update={"train": settings.train.model_copy(update={"seed": seed})})


PRESETS_FILE = Path(__file__).with_name("presets.yaml")


def _load_presets() -> tuple[dict[str, AdapterSettings], dict[str, RouterAdapterSettings]]:
    data = yaml.safe_load(PRESETS_FILE.read_text(encoding="utf-8"))
    experts = {name: AdapterSettings.model_validate(v) for name, v in data["experts"].items()}
    routers = {name: RouterAdapterSettings.model_validate(v) for name, v in data["routers"].items()}
    return experts, routers


EXPERT_PRESETS, ROUTER_PRESETS = _load_presets()
