"""The MR-LoRA router: the base MLLM with its own LoRA, trained on the replay samples of every
task seen so far to answer with the letter of the expert that should answer (docs/method.md)."""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from peft import PeftModel
from pydantic import BaseModel, field_validator
from transformers import PreTrainedModel, ProcessorMixin

from components.data.tasks import TaskSpec
from components.models.config import DEFAULT_TEMPLATE, LETTERS
from components.models.prompts import Sample

SPEC_FILE = "router_spec.json"  # saved beside the router's adapter: its pool and prompt


class Expert(BaseModel, frozen=True):
    letter: str
    task: str
    description: str


class RouterSpec(BaseModel, frozen=True):
    """The expert pool the router chooses from, and the prompt that lists it."""

    experts: tuple[Expert, ...]
    template: str = DEFAULT_TEMPLATE

    @property
    def letters(self) -> str:
        return "".join(e.letter for e in self.experts)

    def task_of(self, letter: str) -> str:
        return next(e.task for e in self.experts if e.letter == letter)

    def letter_of(self, task: str) -> str:
        return next(e.letter for e in self.experts if e.task == task)

    def context(self) -> str:
        """The text before the image: the same for every input."""
        listed = "\n".join(f"{e.letter}. {e.description}" for e in self.experts)
        return self.template.split("{image}")[0].format(experts=listed)

    def question(self, question: str) -> str:
        """The text after the image: the user's question and the instruction."""
        return self.template.split("{image}")[1].format(question=question)

    def sample(self, image, question: str, answer: str = "") -> Sample:
        return Sample(image, self.question(question), answer, context=self.context())

    @field_validator("template")
    @classmethod
    def _placeholders(cls, template: str) -> str:
        marks = [template.find(m) for m in ("{experts}", "{image}", "{question}")]
        if -1 in marks or marks != sorted(marks):
            raise ValueError(
                "the router template needs {experts}, {image} and {question}, in order"
            )
        return template


def router_spec(
    tasks: Sequence[TaskSpec],
    template: str = DEFAULT_TEMPLATE,
    pinned: Mapping[str, str] | None = None,
) -> RouterSpec:
    """Letters in arrival order (A for the first task), unless a benchmark pins its own map."""
    if pinned:
        experts = [
            Expert(letter=pinned[t.name], task=t.name, description=t.description) for t in tasks
        ]
        experts.sort(key=lambda e: e.letter)
    else:
        experts = [
            Expert(letter=LETTERS[i], task=t.name, description=t.description)
            for i, t in enumerate(tasks)
        ]
    return RouterSpec(experts=tuple(experts), template=template)


def save_spec(spec: RouterSpec, folder: Path) -> Path:
    path = folder / SPEC_FILE
    path.write_text(spec.model_dump_json(indent=1), encoding="utf-8")
    return path


def load_spec(folder: Path) -> RouterSpec:
    path = folder / SPEC_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: {folder} is not a router adapter folder")
    return RouterSpec.model_validate_json(path.read_text(encoding="utf-8"))


def routing_samples(spec: RouterSpec, replay: Mapping[str, Sequence[Sample]]) -> list[Sample]:
    """The cumulative replay of every task in the pool, relabelled with its expert's letter."""
    return [
        spec.sample(sample.image, sample.question, spec.letter_of(task))
        for task, samples in replay.items()
        for sample in samples
    ]


def decode_official(text: str, letters: str, rng: random.Random) -> str:
    """The official rule: more than one character outside the letter set, or no letter at all,
    gives a random expert; otherwise the first letter found, checked A, B, C, ... in order."""
    outside = [c for c in text if c not in letters]
    present = [letter for letter in letters if letter in text]
    if len(outside) > 1 or not present:
        return rng.choice(letters)
    return present[0]


def letter_token_ids(processor: ProcessorMixin, letters: str) -> list[int]:
    """The token each letter answer starts with; they must be distinct to score letters."""
    ids = [
        processor.tokenizer(" " + letter, add_special_tokens=False)["input_ids"][0]
        for letter in letters
    ]
    if len(set(ids)) != len(ids):
        raise ValueError(f"the tokenizer does not give the letters {letters} distinct first tokens")
    return ids


@torch.inference_mode()
def constrained_letters(
    model: PreTrainedModel | PeftModel,
    inputs: Mapping[str, Any],
    last: torch.Tensor,
    letter_ids: Sequence[int],
    letters: str,
) -> list[str]:
    """Score the candidate letters after each row's last prompt token (`last`, an index per row)
    in one forward pass: never an illegal output."""
    logits = model(**inputs, logits_to_keep=last[:, None]).logits[:, 0]  # only `last` projected
    best = logits[:, list(letter_ids)].argmax(dim=-1)
    return [letters[i] for i in best.tolist()]
