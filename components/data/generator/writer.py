"""Writes a generated benchmark in the MLLM-CL layout: per task PNG images, train.json,
test.json and the router replay set, plus benchmark.json with the track and task specs."""

from __future__ import annotations

import json
import random
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel
from tqdm import tqdm

from components.data.generator import ability, domain
from components.data.generator.canvas import Item, Split
from components.data.layout import (
    BENCHMARK_FILE,
    IMAGE_TOKEN,
    REPLAY_FILE,
    TEST_FILE,
    TRAIN_FILE,
)
from components.data.tasks import TRACK_ORDER, Track, task_spec

Maker = Callable[[random.Random, Split], Item]
Preset = Literal["micro", "default"]

MAKERS: dict[str, Maker] = {
    "RS": domain.make_rs,
    "Med": domain.make_med,
    "AD": domain.make_ad,
    "Sci": domain.make_sci,
    "Fin": domain.make_fin,
    "OCR": ability.make_ocr,
    "Math": ability.make_math,
    "VP": ability.make_vp,
    "APP": ability.make_app,
}


class PresetSize(BaseModel, frozen=True):
    train: int
    test: int


PRESETS: dict[str, PresetSize] = {
    "micro": PresetSize(train=24, test=12),
    "default": PresetSize(train=400, test=100),
}


class GeneratedBenchmark(BaseModel):
    root: Path
    track: Track
    tasks: list[str]
    seed: int
    preset: str
    counts: dict[str, dict[str, int]]


def split_rng(seed: int, task: str, split: str) -> random.Random:
    # str seeds hash with SHA-512: stable across processes and PYTHONHASHSEED
    return random.Random(f"mllmcl:{seed}:{task}:{split}")


def _image_name(item: Item, split: str, index: int) -> str:
    prefix = f"{item.image_prefix}_" if item.image_prefix else ""
    return f"images/{prefix}{split}_{index:05d}.png"


def _write_json(path: Path, payload: Any) -> None:
    path.write_text(json.dumps(payload, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def first_answer(answer: str | list[str]) -> str:
    return answer[0] if isinstance(answer, list) else answer


def write_task(folder: Path, task: str, size: PresetSize, seed: int, replay: int) -> dict[str, int]:
    """Generate one task's images and JSON files into `folder`."""
    make = MAKERS[task]
    (folder / "images").mkdir(parents=True)
    train, test = [], []
    rng = split_rng(seed, task, "train")
    for index in range(size.train):
        item = make(rng, "train")
        name = _image_name(item, "train", index)
        item.image.save(folder / name, format="PNG")
        train.append(
            {
                "id": f"{task}-train-{index:05d}",
                "image": name,
                "conversations": [
                    {"from": "human", "value": f"{IMAGE_TOKEN}\n{item.question}"},
                    {"from": "gpt", "value": first_answer(item.answer)},
                ],
            }
        )
    rng = split_rng(seed, task, "test")
    for index in range(size.test):
        item = make(rng, "test")
        name = _image_name(item, "test", index)
        item.image.save(folder / name, format="PNG")
        test.append(
            {
                "question_id": f"{task}-test-{index:05d}",
                "image": name,
                "text": item.question,
                "answer": item.answer,
                **item.extra,
            }
        )
    chosen = sorted(
        split_rng(seed, task, "replay").sample(range(len(train)), min(replay, len(train)))
    )
    _write_json(folder / TRAIN_FILE, train)
    _write_json(folder / TEST_FILE, test)
    _write_json(folder / REPLAY_FILE, [train[i] for i in chosen])
    return {"train": len(train), "test": len(test), "router": len(chosen)}


def _is_replaceable(out: Path) -> bool:
    """Only an empty folder or an earlier generated benchmark may be overwritten."""
    if not out.exists():
        return True
    if not out.is_dir():
        return False
    marker = out / BENCHMARK_FILE
    if marker.is_file():
        return "generator" in json.loads(marker.read_text(encoding="utf-8"))
    return not any(out.iterdir())


def generate_benchmark(
    track: Track,
    out: Path,
    seed: int = 0,
    preset: Preset = "default",
    replay: int = 20,
    progress: bool = True,
) -> GeneratedBenchmark:
    """Generate a track into `out` (replacing an earlier generated benchmark there)."""
    out = out.resolve()
    if not _is_replaceable(out):
        raise FileExistsError(
            f"{out} exists and is not a generated benchmark: choose an empty or new folder"
        )
    size = PRESETS[preset]
    tasks = list(TRACK_ORDER[track])
    partial = out.with_name(out.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    counts = {}
    for task in tqdm(tasks, desc=f"generating {track} ({preset})", disable=not progress):
        counts[task] = write_task(partial / task, task, size, seed, replay)
    _write_json(
        partial / BENCHMARK_FILE,
        {
            "track": track,
            "tasks": [task_spec(t).model_dump() for t in tasks],
            "generator": {"seed": seed, "preset": preset, "replay": replay},
        },
    )
    shutil.rmtree(out, ignore_errors=True)
    partial.rename(out)
    return GeneratedBenchmark(
        root=out, track=track, tasks=tasks, seed=seed, preset=preset, counts=counts
    )
