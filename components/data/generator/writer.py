"""Writes a generated benchmark in the layout of the MLLM-CL download: per task PNG images,
train.json and test.json (the ability track's tests in `<Task>_test/`), the root-level router set
(routing prompts answered with the official letters, its images in a folder of their own) and
replay set, plus benchmark.json with the track and task specs."""

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
    OFFICIAL_REPLAY_SETS,
    OFFICIAL_ROUTER_SETS,
    TEST_FILE,
    TEST_FOLDER_SUFFIX,
    TRAIN_FILE,
)
from components.data.routing_prompt import PromptMarkers, routing_prompt
from components.data.tasks import OFFICIAL_LETTERS, TRACK_ORDER, Track, task_spec

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


def _test_folder(track: Track, task: str) -> str:
    return f"{task}{TEST_FOLDER_SUFFIX}" if track == "ability" else task


def write_task(
    root: Path, track: Track, task: str, size: PresetSize, seed: int
) -> list[dict[str, Any]]:
    """Generate one task's images and split files under `root`; returns its training records."""
    make = MAKERS[task]
    folder, test_folder = root / task, root / _test_folder(track, task)
    (folder / "images").mkdir(parents=True)
    (test_folder / "images").mkdir(parents=True, exist_ok=True)
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
        item.image.save(test_folder / name, format="PNG")
        test.append(
            {
                "question_id": f"{task}-test-{index:05d}",
                "image": name,
                "text": item.question,
                "answer": item.answer,
                **item.extra,
            }
        )
    _write_json(folder / TRAIN_FILE, train)
    _write_json(test_folder / TEST_FILE, test)
    return train


def write_root_sets(
    root: Path, track: Track, train: dict[str, list[dict[str, Any]]], seed: int, replay: int
) -> dict[str, int]:
    """The download's root-level sets, from `replay` training records of each task: the
    router set (the routing prompt around each question, answered with the task's official
    letter; the images copied into the set's own folder) and the replay set (the records as
    they are, image paths relative to the root). Returns the records per task."""
    router_file, router_images = OFFICIAL_ROUTER_SETS[track]
    (root / router_images).mkdir()
    letters = OFFICIAL_LETTERS[track]
    pool = {letter: task_spec(task).description for letter, task in sorted(letters.items())}
    letter_of = {task: letter for letter, task in letters.items()}
    router, replayed, counts = [], [], {}
    for task, records in train.items():
        rng = split_rng(seed, task, "replay")
        chosen = [
            records[i] for i in sorted(rng.sample(range(len(records)), min(replay, len(records))))
        ]
        counts[task] = len(chosen)
        for record in chosen:
            image = f"{task}_{Path(record['image']).name}"
            shutil.copyfile(root / task / record["image"], root / router_images / image)
            question = record["conversations"][0]["value"].replace(IMAGE_TOKEN, "").strip()
            prompt = routing_prompt(pool, question, PromptMarkers())
            router.append(
                {
                    "id": f"router-{record['id']}",
                    "image": image,
                    "conversations": [
                        {"from": "human", "value": prompt},
                        {"from": "gpt", "value": letter_of[task]},
                    ],
                }
            )
            replayed.append({**record, "image": f"{task}/{record['image']}"})
    _write_json(root / router_file, router)
    _write_json(root / OFFICIAL_REPLAY_SETS[track], replayed)
    return counts


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
    train = {
        task: write_task(partial, track, task, size, seed)
        for task in tqdm(tasks, desc=f"generating {track} ({preset})", disable=not progress)
    }
    sampled = write_root_sets(partial, track, train, seed, replay)
    counts = {
        task: {
            "train": size.train,
            "test": size.test,
            "router": sampled[task],
            "replay": sampled[task],
        }
        for task in tasks
    }
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
