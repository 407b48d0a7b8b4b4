"""Validation of an MLLM-CL task folder: every record and every image is checked before anything
is written, and every problem is reported with its file, record and field."""

from __future__ import annotations

import json
import math
import random
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import Any

from PIL import Image, UnidentifiedImageError
from pydantic import BaseModel

from components.data.layout import REPLAY_FILE, TEST_FILE, TRAIN_FILE
from components.data.problems import Problem, SourceValidationError
from components.data.source import SourcePlan
from components.data.tasks import TaskSpec

TEST_KEYS = {"question_id", "image", "text", "answer"}


class Turn(BaseModel):
    speaker: str
    value: str


class TrainRecord(BaseModel):
    id: str
    image: str
    conversations: list[Turn]


class TestRecord(BaseModel):
    question_id: str
    image: str
    text: str
    answers: list[str]
    answer_is_list: bool
    extra: dict[str, Any]


class ValidatedTask(BaseModel):
    spec: TaskSpec
    folder: Path
    train: list[TrainRecord]
    test: list[TestRecord]
    router: list[TrainRecord]
    router_source: str  # "replay.json" or "sampled from train"


class _Checker:
    """Collects problems for one task folder; each image is opened once."""

    def __init__(self, folder: Path, max_pixels: int) -> None:
        self.folder = folder.resolve()
        self.max_pixels = max_pixels
        self.problems: list[Problem] = []
        self._images: dict[str, str | None] = {}

    def add(self, file: Path, message: str, record: str | None = None, field: str | None = None):
        self.problems.append(Problem(file, message, record, field))

    def load_list(self, file: Path, required: bool = True) -> list[Any] | None:
        if not file.is_file():
            if required:
                self.add(file, "file not found")
            return None
        try:
            payload = json.loads(file.read_text(encoding="utf-8"))
        except UnicodeDecodeError as error:
            self.add(file, f"not UTF-8 text: {error.reason}")
            return None
        except json.JSONDecodeError as error:
            self.add(file, f"invalid JSON at line {error.lineno} column {error.colno}: {error.msg}")
            return None
        if not isinstance(payload, list):
            self.add(file, f"expected a JSON list of records, found {type(payload).__name__}")
            return None
        if not payload:
            self.add(file, "no records: the task split is empty")
        return payload

    def record_id(self, file: Path, raw: Any, index: int, key: str, seen: set[str]) -> str | None:
        label = f"#{index}"
        if not isinstance(raw, dict):
            self.add(file, f"expected a JSON object, found {type(raw).__name__}", label)
            return None
        value = raw.get(key)
        if isinstance(value, bool) or not isinstance(value, str | int) or value == "":
            self.add(file, "missing or not a string/integer id", label, key)
            return None
        ident = str(value)
        if ident in seen:
            self.add(file, "duplicate id", ident, key)
            return None
        seen.add(ident)
        return ident

    def text(self, file: Path, raw: dict, ident: str, key: str) -> str | None:
        value = raw.get(key)
        if not isinstance(value, str) or not value.strip():
            self.add(file, "missing or empty text", ident, key)
            return None
        return value

    def image(self, file: Path, raw: dict, ident: str) -> str | None:
        """The image's path relative to the task folder, in the one form that validation and
        the build both use: forward slashes (a source written on Windows may use backslashes)."""
        value = raw.get("image")
        if not isinstance(value, str) or not value.strip():
            self.add(file, "missing image path", ident, "image")
            return None
        rel = value.replace("\\", "/")
        if rel not in self._images:
            self._images[rel] = self._image_problem(rel)
        if self._images[rel] is not None:
            self.add(file, self._images[rel], ident, "image")
            return None
        return rel

    def _image_problem(self, rel: str) -> str | None:
        pure = PurePosixPath(rel)
        if pure.is_absolute() or (len(rel) > 1 and rel[1] == ":"):
            return f"{rel!r} is absolute: image paths must be relative to the task folder"
        if ".." in pure.parts:
            return f"{rel!r} leaves the task folder ('..')"
        path = (self.folder / pure).resolve()
        if not path.is_relative_to(self.folder):
            return f"{rel!r} resolves outside the task folder"
        if not path.is_file():
            return f"image file {rel!r} not found"
        try:
            with _pixel_limit(self.max_pixels), Image.open(path) as image:
                width, height = image.size
                image.verify()
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            return f"{rel!r} is a decompression bomb: more than {self.max_pixels} pixels"
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
            return f"{rel!r} is not a readable image: {error}"
        if width * height > self.max_pixels:
            size = f"{width}x{height}"
            return f"{rel!r} is a decompression bomb: {size} exceeds {self.max_pixels} pixels"
        return None


@contextmanager
def _pixel_limit(max_pixels: int) -> Iterator[None]:
    """Let Pillow enforce our limit (it raises above 2x, warns above 1x; we make both errors)."""
    previous = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = max_pixels
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            yield
    finally:
        Image.MAX_IMAGE_PIXELS = previous


def _train_records(check: _Checker, file: Path, required: bool = True) -> list[TrainRecord] | None:
    raw_records = check.load_list(file, required)
    if raw_records is None:
        return None
    records, seen = [], set()
    for index, raw in enumerate(raw_records):
        ident = check.record_id(file, raw, index, "id", seen)
        if ident is None:
            continue
        image = check.image(file, raw, ident)
        turns = _conversation(check, file, raw.get("conversations"), ident)
        if image is not None and turns is not None:
            records.append(TrainRecord(id=ident, image=image, conversations=turns))
    return records


def _conversation(check: _Checker, file: Path, raw: Any, ident: str) -> list[Turn] | None:
    if not isinstance(raw, list) or not raw:
        check.add(file, "missing or empty conversation list", ident, "conversations")
        return None
    turns = []
    for position, turn in enumerate(raw):
        field = f"conversations[{position}]"
        if (
            not isinstance(turn, dict)
            or turn.get("from") not in ("human", "gpt")
            or not isinstance(turn.get("value"), str)
        ):
            check.add(file, 'expected {"from": "human"|"gpt", "value": text}', ident, field)
            return None
        turns.append(Turn(speaker=turn["from"], value=turn["value"]))
    if not any(t.speaker == "human" for t in turns):
        check.add(file, "no human turn (question)", ident, "conversations")
        return None
    answers = [t for t in turns if t.speaker == "gpt"]
    if not answers or any(not t.value.strip() for t in answers):
        check.add(file, "missing answer (gpt turn)", ident, "conversations")
        return None
    return turns


def _answer_problem(answers: list[Any]) -> str | None:
    """Gold answers are texts or finite numbers (NaN or Infinity would be scored as "nan")."""
    missing = "missing answer (a text, or a non-empty list of texts)"
    for answer in answers:
        if isinstance(answer, float) and not math.isfinite(answer):
            return f"{answer} is not a finite number: a gold answer must be a text or a number"
        if isinstance(answer, bool) or not isinstance(answer, str | int | float):
            return missing
        if not str(answer).strip():
            return missing
    return None if answers else missing


def _test_records(check: _Checker, file: Path) -> list[TestRecord] | None:
    raw_records = check.load_list(file)
    if raw_records is None:
        return None
    records, seen = [], set()
    for index, raw in enumerate(raw_records):
        ident = check.record_id(file, raw, index, "question_id", seen)
        if ident is None:
            continue
        image = check.image(file, raw, ident)
        text = check.text(file, raw, ident, "text")
        answer = raw.get("answer")
        answers = answer if isinstance(answer, list) else [answer]
        problem = _answer_problem(answers)
        if problem is not None:
            check.add(file, problem, ident, "answer")
            continue
        if image is None or text is None:
            continue
        records.append(
            TestRecord(
                question_id=ident,
                image=image,
                text=text,
                answers=[str(a) for a in answers],
                answer_is_list=isinstance(answer, list),
                extra={k: v for k, v in raw.items() if k not in TEST_KEYS},
            )
        )
    return records


def validate_task(
    folder: Path, spec: TaskSpec, replay_per_task: int, seed: int, max_pixels: int
) -> tuple[ValidatedTask | None, list[Problem]]:
    check = _Checker(folder, max_pixels)
    train = _train_records(check, folder / TRAIN_FILE)
    test = _test_records(check, folder / TEST_FILE)
    replay = _train_records(check, folder / REPLAY_FILE, required=False)
    if check.problems or train is None or test is None:
        return None, check.problems
    if replay is not None:
        router, router_source = replay, REPLAY_FILE
    else:
        rng = random.Random(f"mllmcl-replay:{seed}:{spec.name}")
        picked = sorted(rng.sample(range(len(train)), min(replay_per_task, len(train))))
        router, router_source = [train[i] for i in picked], "sampled from train"
    task = ValidatedTask(
        spec=spec,
        folder=folder.resolve(),
        train=train,
        test=test,
        router=router,
        router_source=router_source,
    )
    return task, []


def validate_source(
    plan: SourcePlan, replay_per_task: int, seed: int, max_pixels: int
) -> list[ValidatedTask]:
    """Validate every planned task; raise one error listing every problem found."""
    tasks, problems = [], []
    for spec in plan.tasks:
        task, task_problems = validate_task(
            plan.root / spec.name, spec, replay_per_task, seed, max_pixels
        )
        problems += task_problems
        if task is not None:
            tasks.append(task)
    if problems:
        raise SourceValidationError(problems)
    return tasks
