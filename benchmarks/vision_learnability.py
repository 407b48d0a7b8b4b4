"""Can the tiny base's vision tower learn a task's visual concept from the examples an expert
gets? Trains a fresh tower of the tiny base's shape (+ a linear head on its mean patch feature)
and, for reference, a small CNN directly on the answer labels of one question kind of a
generated task, at several training-set sizes, and prints held-out accuracy (not a test).

    .venv/bin/python benchmarks/vision_learnability.py --task Med --ask shape --items 400,9000

The first 400 train items are the default preset's train split: what the expert learns from.
Direct supervision is the best case: an expert sees the tower's features only through the LM.

`--frozen FOLDER` probes a built base's tower instead (a LLaVA folder or a CLIP vision tower):
frozen, with only the linear head trained on the answers, it shows what the tower already sees.

    .venv/bin/python benchmarks/vision_learnability.py --task RS --ask How --items 400 \
        --frozen models/tiny-base-<digest>
"""

from __future__ import annotations

import argparse
import time

import torch
from PIL import Image
from rich.console import Console
from rich.table import Table
from transformers import AutoConfig, CLIPVisionModel, LlavaForConditionalGeneration

from components.data.generator.canvas import Split
from components.data.generator.writer import MAKERS, first_answer, split_rng
from components.models.base.config import TinyBaseConfig
from components.models.base.tiny import build_image_processor, vision_config

BATCH = 32


def labelled_items(task: str, split: Split, ask: str, items: int) -> list[tuple[Image.Image, str]]:
    """(image, answer) of the questions containing `ask` among the first `items` items of the
    task's `split` (seed 0): the first 400 train items are the default preset's train split."""
    rng, make, kept = split_rng(0, task, split), MAKERS[task], []
    for _ in range(items):
        item = make(rng, split)
        if ask in item.question:
            kept.append((item.image, first_answer(item.answer)))  # what experts train on
    return kept


class TowerClassifier(torch.nn.Module):
    def __init__(self, config: TinyBaseConfig, classes: int) -> None:
        super().__init__()
        self.tower = CLIPVisionModel(vision_config(config))
        self.head = torch.nn.Linear(config.vision_hidden, classes)

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.head(self.tower(pixels).last_hidden_state[:, 1:].mean(dim=1))


class FrozenTowerProbe(torch.nn.Module):
    """A linear head on the mean patch feature of a pretrained tower that does not learn."""

    def __init__(self, folder: str, classes: int) -> None:
        super().__init__()
        if AutoConfig.from_pretrained(folder).model_type == "llava":
            tower = LlavaForConditionalGeneration.from_pretrained(folder).model.vision_tower
        else:
            tower = CLIPVisionModel.from_pretrained(folder)
        self.tower = tower.requires_grad_(False).eval()
        self.head = torch.nn.Linear(self.tower.config.hidden_size, classes)

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            features = self.tower(pixel_values=pixels).last_hidden_state[:, 1:].mean(dim=1)
        return self.head(features)


def small_cnn(classes: int) -> torch.nn.Module:
    def block(inputs: int, outputs: int) -> list[torch.nn.Module]:
        return [torch.nn.Conv2d(inputs, outputs, 3, padding=1), torch.nn.ReLU()]

    pool = torch.nn.MaxPool2d(2)
    head = [torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(64, classes)]
    return torch.nn.Sequential(*block(3, 32), pool, *block(32, 64), pool, *block(64, 64), *head)


def fit(model: torch.nn.Module, x, y, x_test, y_test, steps: int) -> tuple[float, float]:
    """AdamW on cross-entropy for `steps` batches (the data cycled); train / test accuracy."""
    torch.manual_seed(0)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    order = torch.cat([torch.randperm(len(x)) for _ in range(steps * BATCH // len(x) + 1)])
    for step in range(steps):
        rows = order[step * BATCH : (step + 1) * BATCH]
        loss = torch.nn.functional.cross_entropy(model(x[rows]), y[rows])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        return tuple(
            float((model(a).argmax(1) == b).float().mean()) for a, b in [(x, y), (x_test, y_test)]
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="Med", choices=sorted(MAKERS))
    parser.add_argument("--ask", default="shape", help="a word of the question kind to learn")
    parser.add_argument(
        "--items", default="400,9000", help="train items generated (400: the default split)"
    )
    parser.add_argument("--steps", type=int, default=600, help="batches of 32 per model and size")
    parser.add_argument("--test-items", type=int, default=1800)
    parser.add_argument("--frozen", help="probe this base's (or tower's) frozen tower instead")
    args = parser.parse_args()
    config = TinyBaseConfig()
    processor = build_image_processor(config)
    test = labelled_items(args.task, "test", args.ask, args.test_items)
    if not test:
        parser.error(f"no {args.task} question contains {args.ask!r}")
    trains = [labelled_items(args.task, "train", args.ask, int(n)) for n in args.items.split(",")]
    labels = sorted({answer for items in [test, *trains] for _, answer in items})

    def tensors(items):
        pixels = processor([image for image, _ in items], return_tensors="pt")["pixel_values"]
        return pixels, torch.tensor([labels.index(answer) for _, answer in items])

    x_test, y_test = tensors(test)
    table = Table(
        title=f"{args.task}: questions with {args.ask!r}, {len(labels)} answers, {args.steps} steps"
    )
    for column in ("train questions", "model", "train acc", "held-out acc", "seconds"):
        table.add_column(column)
    for train in trains:
        x, y = tensors(train)
        models = (
            [("frozen tower + linear head", FrozenTowerProbe(args.frozen, len(labels)))]
            if args.frozen
            else [
                ("tiny tower", TowerClassifier(config, len(labels))),
                ("small CNN", small_cnn(len(labels))),
            ]
        )
        for name, model in models:
            started = time.perf_counter()
            train_acc, test_acc = fit(model, x, y, x_test, y_test, args.steps)
            row = (str(len(train)), name, f"{100 * train_acc:.0f}%", f"{100 * test_acc:.0f}%")
            table.add_row(*row, f"{time.perf_counter() - started:.0f}")
    Console().print(table)


if __name__ == "__main__":
    main()
