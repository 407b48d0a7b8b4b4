"""The tiny base's first stage: its CLIP vision tower learns to see, on its own, before the
language model meets it (as a real LLaVA's tower arrives pretrained). Linear heads on the mean of
the patch features read the scene's global labels; a linear head on each patch reads the object
and the character there (components/models/base/mixture/labels.py). The heads are dropped after.

Scenes are drawn and turned into pixels by worker processes, each chunk from its own seed, so
the data is the same whatever the number of workers."""

from __future__ import annotations

import multiprocessing
import os
import random
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import torch
from transformers import CLIPVisionConfig, CLIPVisionModel, TrainerCallback

from components.models.base.config import TinyBaseConfig
from components.models.base.mixture.labels import (
    COUNT_CLASSES,
    GLOBAL_CLASSES,
    IGNORE,
    MULTI_HOT_CLASSES,
    PATCH_CLASSES,
    scene_labels,
)
from components.models.base.mixture.questions import make_sample
from components.models.base.tiny import build_image_processor
from components.models.lora.settings import TrainSettings
from components.models.lora.training import run_trainer

CHUNK = 512
LABEL_NAMES = (*GLOBAL_CLASSES, *MULTI_HOT_CLASSES, *COUNT_CLASSES, *PATCH_CLASSES)


class TowerWithHeads(torch.nn.Module):
    def __init__(self, config: CLIPVisionConfig) -> None:
        super().__init__()
        self.tower = CLIPVisionModel(config)
        hidden = config.hidden_size
        classes = {**GLOBAL_CLASSES, **MULTI_HOT_CLASSES, **PATCH_CLASSES}
        classes |= {name: groups * n for name, (groups, n) in COUNT_CLASSES.items()}
        self.heads = torch.nn.ModuleDict(
            {name: torch.nn.Linear(hidden, n) for name, n in classes.items()}
        )

    def forward(self, pixel_values: torch.Tensor, **labels: torch.Tensor) -> dict:
        patches = self.tower(pixel_values=pixel_values).last_hidden_state[:, 1:]
        pooled = patches.mean(dim=1)
        losses = []
        for name in GLOBAL_CLASSES:
            if (labels[name] != IGNORE).any():
                losses.append(
                    torch.nn.functional.cross_entropy(self.heads[name](pooled), labels[name])
                )
        for name in MULTI_HOT_CLASSES:
            known = labels[name] != IGNORE
            if known.any():
                logits = self.heads[name](pooled)[known]
                target = labels[name][known].float()
                losses.append(torch.nn.functional.binary_cross_entropy_with_logits(logits, target))
        for name, (groups, classes) in COUNT_CLASSES.items():
            if (labels[name] != IGNORE).any():
                logits = self.heads[name](pooled).view(-1, groups, classes)
                losses.append(
                    torch.nn.functional.cross_entropy(logits.flatten(0, 1), labels[name].flatten())
                )
        for name in PATCH_CLASSES:
            if (labels[name] != IGNORE).any():
                logits = self.heads[name](patches)
                losses.append(
                    torch.nn.functional.cross_entropy(logits.flatten(0, 1), labels[name].flatten())
                )
        return {"loss": torch.stack(losses).sum()}


def _draw_chunk(task: tuple[int, int, int, TinyBaseConfig]) -> tuple[np.ndarray, dict]:
    seed, chunk, count, config = task
    rng = random.Random(f"mllmcl-tower:{seed}:{chunk}")
    processor = build_image_processor(config)
    scenes = [make_sample(rng)[0] for _ in range(count)]
    pixels = processor([s.image for s in scenes], return_tensors="np")["pixel_values"]
    labels = [scene_labels(s, config.image_size, config.patch_size) for s in scenes]
    stacked = {name: np.array([label[name] for label in labels]) for name in LABEL_NAMES}
    return pixels.astype(np.float16), stacked


class SceneTensors(torch.utils.data.Dataset):
    """Drawn scenes as half-precision pixels and their labels, held in memory."""

    def __init__(
        self, count: int, seed: int, config: TinyBaseConfig, workers: int | None = None
    ) -> None:
        """`workers` processes draw the scenes (default: one per CPU core)."""
        workers = workers or os.cpu_count() or 1
        tasks = [
            (seed, chunk, min(CHUNK, count - chunk * CHUNK), config)
            for chunk in range((count + CHUNK - 1) // CHUNK)
        ]
        if workers > 1 and len(tasks) > 1:
            context = multiprocessing.get_context("spawn")
            with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
                chunks = list(pool.map(_draw_chunk, tasks))
        else:
            chunks = [_draw_chunk(task) for task in tasks]
        self.pixels = torch.from_numpy(np.concatenate([c[0] for c in chunks]))
        self.labels = {
            name: torch.from_numpy(np.concatenate([c[1][name] for c in chunks]))
            for name in LABEL_NAMES
        }

    def __len__(self) -> int:
        return len(self.pixels)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return {
            "pixel_values": self.pixels[index].float(),
            **{name: values[index] for name, values in self.labels.items()},
        }


def pretrain_tower(
    tower_config: CLIPVisionConfig,
    config: TinyBaseConfig,
    workdir: Path,
    workers: int | None,
    callbacks: Sequence[TrainerCallback] = (),
    progress: bool = True,
) -> tuple[CLIPVisionModel, list[dict]]:
    """A vision tower trained on `config.tower_samples` drawn scenes; returns it and the
    Trainer's log history."""
    torch.manual_seed(config.seed)
    data = SceneTensors(config.tower_samples, config.seed, config, workers)
    model = TowerWithHeads(tower_config)
    settings = TrainSettings(
        epochs=config.tower_epochs,
        learning_rate=config.tower_lr,
        batch_size=config.tower_batch,
        warmup_ratio=0.03,
        weight_decay=0.05,
        seed=config.seed,
    )
    history = run_trainer(model, data, settings, workdir, callbacks, progress)
    return model.tower, history
