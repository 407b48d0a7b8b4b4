"""Model settings as plain data (no torch import): the tiny base's shape, adapter and training
hyper-parameters and their presets, and the router's prompt and decoding."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel


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
    # The share of training images seen recoloured each epoch (components/models/augment.py).
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


PRESETS_FILE = Path(__file__).with_name("presets.yaml")


def _load_presets() -> tuple[dict[str, AdapterSettings], dict[str, AdapterSettings]]:
    data = yaml.safe_load(PRESETS_FILE.read_text(encoding="utf-8"))
    presets = [
        {name: AdapterSettings.model_validate(value) for name, value in data[kind].items()}
        for kind in ("experts", "routers")
    ]
    return presets[0], presets[1]


EXPERT_PRESETS, ROUTER_PRESETS = _load_presets()


class TinyBaseConfig(BaseModel, frozen=True):
    """Everything that shapes the tiny base; its hash names the built model."""

    image_size: int = 64
    patch_size: int = 16
    vision_hidden: int = 64
    vision_layers: int = 3
    vision_heads: int = 4
    text_hidden: int = 128
    text_layers: int = 3
    text_heads: int = 4
    vocab_size: int = 1024
    max_positions: int = 512
    # INIT_STD_NOTE: the weights' initial spread (Hugging Face's default initializer_range is
    # 0.02; the vision tower's initializer_factor is scaled by the same 5x). At 0.02 the tiny
    # base learnt colours but not objects in its budget: trained on counting alone it still
    # answered "2" after 375 steps (27.5%); at 0.1 it counted 54% right after the same steps,
    # and the AD and Sci experts went from 64 / 71% to 89 / 91% (benchmarks/results/).
    init_std: float = 0.1
    pretrain_samples: int = 8000
    pretrain_epochs: int = 3
    pretrain_lr: float = 1e-3
    pretrain_batch: int = 32
    seed: int = 0

    def digest(self) -> str:
        # format: the build recipe's version (2: the tokenizer learns from chat-formatted text)
        payload = json.dumps({"format": 2, **self.model_dump()}, sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()[:16]


Decoding = Literal["constrained", "official"]
LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"

# {experts} lists the pool, {image} is where the image goes, {question} is the user's question.
# Everything before {image} is the same for every input, so it is computed once and cached.
DEFAULT_TEMPLATE = (
    "You are a router. Several experts can answer questions about an image; pick the one "
    "whose specialty fits it best.\nExperts:\n{experts}\n{image}Question: {question}\n"
    "Reply with the expert's letter only. Do not answer the question."
)
