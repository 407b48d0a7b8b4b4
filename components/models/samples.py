"""Prepared splits (Hugging Face datasets) as model samples and scorer annotations."""

from __future__ import annotations

import itertools
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from datasets import Dataset

from components.data.build import load_split
from components.data.layout import IMAGE_TOKEN
from components.models.prompts import Sample


def _question(text: str) -> str:
    return text.replace(IMAGE_TOKEN, "").strip()


def training_samples(split: Dataset) -> list[Sample]:
    """One sample per (human, gpt) exchange of every conversation, each with the record's image."""
    samples = []
    for row in split:
        turns = row["conversations"]
        for ask, reply in itertools.pairwise(turns):
            if ask["from"] == "human" and reply["from"] == "gpt":
                samples.append(Sample(row["image"], _question(ask["value"]), reply["value"]))
    return samples


def task_samples(data_dir: Path, benchmark: str, task: str, split: str = "train") -> list[Sample]:
    """A prepared task's split (train, replay) as training samples."""
    return training_samples(load_split(data_dir, benchmark, task, split))


Split = tuple[str, str]  # a prepared split: (task, split name)


def splits_samples(data_dir: Path, benchmark: str, splits: Sequence[Split]) -> list[Sample]:
    """The training samples of several prepared splits, in their order."""
    return [s for task, split in splits for s in task_samples(data_dir, benchmark, task, split)]


def evaluation_samples(split: Dataset) -> tuple[list[Sample], list[dict[str, Any]]]:
    """Samples to answer, and the matching annotations in the MLLM-CL test.json form."""
    samples, annotations = [], []
    for row in split:
        samples.append(Sample(row["image"], row["text"], row["answers"][0]))
        annotations.append(
            {
                "question_id": row["question_id"],
                "image": row["image_file"],
                "text": row["text"],
                "answer": row["answers"] if row["answer_is_list"] else row["answers"][0],
                **json.loads(row["extra"]),
            }
        )
    return samples, annotations
