"""Builds the prepared form of validated tasks: one Hugging Face dataset per task and split
(images embedded), saved as Parquet, plus a manifest with counts, scorers and content hashes.

Output is byte-deterministic for a given input, so DVC sees an unchanged version on a re-run."""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
from datasets import Dataset, Features, Image, Sequence, Value
from datasets.table import InMemoryTable
from pydantic import BaseModel

from components.data.layout import SPLITS
from components.data.tasks import TaskSpec, Track
from components.data.validation import TestRecord, TestSplit, TrainRecord, TrainSplit, ValidatedTask

MANIFEST_FILE = "manifest.json"
MANIFEST_FORMAT = 2  # 2: a replay split of its own; where each split came from

TRAIN_FEATURES = Features(
    {
        "id": Value("string"),
        "image": Image(),
        "image_file": Value("string"),
        "conversations": [{"from": Value("string"), "value": Value("string")}],
    }
)
TEST_FEATURES = Features(
    {
        "question_id": Value("string"),
        "image": Image(),
        "image_file": Value("string"),
        "text": Value("string"),
        "answers": Sequence(Value("string")),
        "answer_is_list": Value("bool"),
        "extra": Value("string"),  # the task's extra test keys, as JSON
    }
)


class TaskEntry(BaseModel):
    spec: TaskSpec
    source_hash: str
    content_hash: str
    sources: dict[str, str] = {}  # split -> where it came from in the source
    counts: dict[str, int]
    files: dict[str, str]  # split file name -> sha256


class Manifest(BaseModel):
    format: int = MANIFEST_FORMAT
    benchmark: str
    track: Track | None
    tasks: list[TaskEntry]

    @property
    def names(self) -> list[str]:
        """The prepared tasks, in arrival order."""
        return [t.spec.name for t in self.tasks]

    def task(self, name: str) -> TaskEntry:
        found = next((t for t in self.tasks if t.spec.name == name), None)
        if found is None:
            raise ValueError(
                f"task {name!r} is not prepared in benchmark {self.benchmark!r}: run prepare"
            )
        return found

    def write(self, folder: Path) -> None:
        text = json.dumps(self.model_dump(mode="json"), indent=1, sort_keys=True)
        (folder / MANIFEST_FILE).write_text(text + "\n", encoding="utf-8")


def read_manifest(folder: Path) -> Manifest | None:
    path = folder / MANIFEST_FILE
    return (
        Manifest.model_validate_json(path.read_text(encoding="utf-8")) if path.is_file() else None
    )


def prepared_manifest(data_dir: Path, benchmark: str) -> Manifest:
    """The manifest of a prepared benchmark, which the jobs are given instead of a name."""
    manifest = read_manifest(data_dir / benchmark)
    if manifest is None:
        raise ValueError(f"benchmark {benchmark!r} is not prepared: run `mllmcl prepare` first")
    return manifest


def _train_rows(folder: Path, records: list[TrainRecord]) -> Iterator[dict[str, Any]]:
    for r in records:
        yield {
            "id": r.id,
            "image": {"bytes": (folder / r.image).read_bytes(), "path": Path(r.image).name},
            "image_file": r.image,
            "conversations": [{"from": t.speaker, "value": t.value} for t in r.conversations],
        }


def _test_rows(folder: Path, records: list[TestRecord]) -> Iterator[dict[str, Any]]:
    for r in records:
        yield {
            "question_id": r.question_id,
            "image": {"bytes": (folder / r.image).read_bytes(), "path": Path(r.image).name},
            "image_file": r.image,
            "text": r.text,
            "answers": r.answers,
            "answer_is_list": r.answer_is_list,
            "extra": json.dumps(r.extra, sort_keys=True, ensure_ascii=False),
        }


def _sha256(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def _rows(kind: str, folder: Path, records: list) -> Iterator[dict[str, Any]]:
    yield from (_train_rows if kind == "train" else _test_rows)(folder, records)


def _write_split(kind: str, folder: Path, records: list, features: Features, target: Path) -> None:
    """Stream records through an on-disk Arrow cache (real splits outgrow memory) to Parquet."""
    with tempfile.TemporaryDirectory(dir=target.parent) as cache:
        dataset = Dataset.from_generator(
            _rows,
            features=features,
            cache_dir=cache,
            gen_kwargs={"kind": kind, "folder": folder, "records": records},
        )
        dataset.to_parquet(str(target))


def build_task(task: ValidatedTask, source_hash: str, out: Path) -> TaskEntry:
    """Write one Parquet file per split of one task into `out` and describe them."""
    out.mkdir(parents=True, exist_ok=True)
    splits: dict[str, TrainSplit | TestSplit] = {
        "train": task.train,
        "test": task.test,
        "router": task.router,
        "replay": task.replay,
    }
    for name, split in splits.items():
        features = TEST_FEATURES if isinstance(split, TestSplit) else TRAIN_FEATURES
        kind = "test" if isinstance(split, TestSplit) else "train"
        _write_split(kind, split.images, split.records, features, out / f"{name}.parquet")
    files = {f"{name}.parquet": _sha256(out / f"{name}.parquet") for name in splits}
    content = hashlib.sha256("".join(f"{n}:{h}\n" for n, h in sorted(files.items())).encode())
    return TaskEntry(
        spec=task.spec,
        source_hash=source_hash,
        content_hash=content.hexdigest(),
        sources={name: split.source for name, split in splits.items()},
        counts={name: len(split.records) for name, split in splits.items()},
        files=files,
    )


def is_current(entry: TaskEntry | None, source_hash: str, folder: Path) -> bool:
    """True when the prepared task came from this exact source, in this manifest format, and
    its files are intact."""
    if entry is None or entry.source_hash != source_hash:
        return False
    if set(entry.files) != {f"{split}.parquet" for split in SPLITS}:
        return False
    return all(
        (folder / name).is_file() and _sha256(folder / name) == digest
        for name, digest in entry.files.items()
    )


def load_split(data_dir: Path, benchmark: str, task: str, split: str) -> Dataset:
    """A prepared split as a Hugging Face dataset (images decode to PIL on access)."""
    path = data_dir / benchmark / task / f"{split}.parquet"
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: prepare the benchmark first (mllmcl prepare)")
    return Dataset(InMemoryTable(pq.read_table(path)))  # features come from the schema metadata


def clear(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)
