"""The router's expert pool and the prompt that lists it (docs/method.md): each expert has a
letter, and the router answers with the letter of the expert that should answer."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from pydantic import BaseModel, field_validator

from components.data.tasks import TaskSpec
from components.models.mrlora.settings import DEFAULT_TEMPLATE, LETTERS
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
        """The text after the image: the user's question, with whatever the template adds."""
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
