"""The tiny base's shape and pretraining budget as plain data (no torch import)."""

from __future__ import annotations

import hashlib
import json

from pydantic import BaseModel


class TinyBaseConfig(BaseModel, frozen=True):
    """Everything that shapes the tiny base; its hash names the built model."""

    image_size: int = 64
    patch_size: int = 16
    vision_hidden: int = 128
    vision_layers: int = 4
    vision_heads: int = 4
    text_hidden: int = 128
    text_layers: int = 3
    text_heads: int = 4
    vocab_size: int = 1024
    max_positions: int = 512
    # INIT_STD_NOTE: the weights' initial spread, five times Hugging Face's default
    # initializer_range (0.02; the vision tower's initializer_factor is scaled alike). From the
    # default, a base this small learns colours but not objects or counts within its
    # pretraining budget; the figures in benchmarks/results/models-cpu.md are with 0.1.
    init_std: float = 0.1
    # Stage 1: the vision tower alone on drawn scenes (vision_pretraining.py).
    tower_samples: int = 60000
    tower_epochs: float = 3
    tower_lr: float = 1e-3
    tower_batch: int = 64
    # Stage 2: the projector and language model on questions about fresh scenes, tower frozen.
    pretrain_samples: int = 40000
    pretrain_epochs: float = 2
    pretrain_lr: float = 1e-3
    pretrain_batch: int = 32
    held_out_questions: int = 600  # fresh mixture questions a build is scored on
    seed: int = 0

    def digest(self) -> str:
        # format: the build recipe's version (3: the tower is pretrained first, on drawn scenes)
        payload = json.dumps({"format": 3, **self.model_dump()}, sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()[:16]
