"""Validation of an MLLM-CL source: every record and every image of the planned tasks and of the
root-level router and replay sets is checked before anything is written, and every problem is
reported with its file, record and field."""

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

from components.data.layout import IMAGE_TOKEN, TEST_FILE, TRAIN_FILE
from components.data.problems import Problem, SourceValidationError
from components.data.routing_prompt import recover_question
from components.data.source import RootSet, SourcePlan
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


class TrainSplit(BaseModel):
    records: list[TrainRecord]
    images: Path  # the folder the records' image paths are relative to
    source: str  # where the split came from, relative to the source root


class TestSplit(BaseModel):
    records: list[TestRecord]
    images: Path
    source: str


class ValidatedTask(BaseModel):
    spec: TaskSpec
    train: TrainSplit
    test: TestSplit
    router: TrainSplit  # the router's replay: 20 samples, or the download's router records
    replay: TrainSplit  # the replay baselines' samples of this task


class _Checker:
    """Collects the problems of a source; each image is opened once."""

    def __init__(self, max_pixels: int) -> None:
        self.max_pixels = max_pixels
        self.problems: list[Problem] = []
        self._images: dict[Path, str | None] = {}

    def add(self, file: Path, message: str, record: str | None = None, field: str | None = None):
        self.problems.append(Problem(file, message, record, field))

    def load_list(self, file: Path) -> list[Any] | None:
        if not file.is_file():
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
            self.add(file, "no records: the split is empty")
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

    def image(self, file: Path, raw: dict, ident: str, folder: Path) -> str | None:
        """The image's path relative to `folder`, in the one form that validation and the build
        both use: forward slashes (a source written on Windows may use backslashes)."""
        value = raw.get("image")
        if not isinstance(value, str) or not value.strip():
            self.add(file, "missing image path", ident, "image")
            return None
        rel = value.replace("\\", "/")
        problem = self._image_problem(folder.resolve(), rel)
        if problem is not None:
            self.add(file, problem, ident, "image")
            return None
        return rel

    def _image_problem(self, folder: Path, rel: str) -> str | None:
        pure = PurePosixPath(rel)
        if pure.is_absolute() or (len(rel) > 1 and rel[1] == ":"):
            return f"{rel!r} is absolute: image paths are relative to the folder of their JSON file"
        if ".." in pure.parts:
            return f"{rel!r} leaves its image folder {folder.name}/ ('..')"
        path = (folder / pure).resolve()
        if not path.is_relative_to(folder):
            return f"{rel!r} resolves outside its image folder {folder.name}/"
        if path not in self._images:
            self._images[path] = self._image_file_problem(path, rel)
        return self._images[path]

    def _image_file_problem(self, path: Path, rel: str) -> str | None:
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


def _train_records(check: _Checker, file: Path, images: Path) -> list[TrainRecord] | None:
    raw_records = check.load_list(file)
    if raw_records is None:
        return None
    records: list[TrainRecord] = []
    seen: set[str] = set()
    for index, raw in enumerate(raw_records):
        ident = check.record_id(file, raw, index, "id", seen)
        if ident is None:
            continue
        image = check.image(file, raw, ident, images)
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


def _test_records(check: _Checker, file: Path, images: Path) -> list[TestRecord] | None:
    raw_records = check.load_list(file)
    if raw_records is None:
        return None
    records: list[TestRecord] = []
    seen: set[str] = set()
    for index, raw in enumerate(raw_records):
        ident = check.record_id(file, raw, index, "question_id", seen)
        if ident is None:
            continue
        image = check.image(file, raw, ident, images)
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


def _router_set(check: _Checker, plan: SourcePlan, root_set: RootSet) -> dict[str, TrainSplit]:
    """The download's router records per planned task: the task from the answer's letter, the
    question recovered from the routing prompt. Records of tasks not planned are left out."""
    file, letters = root_set.file, plan.letters
    records = _train_records(check, file, root_set.images) or []
    known = ", ".join(f"{letter}={task}" for letter, task in letters.items())
    by_task: dict[str, list[TrainRecord]] = {name: [] for name in plan.names}
    for record in records:
        ask = next(i for i, t in enumerate(record.conversations) if t.speaker == "human")
        reply = next(i for i, t in enumerate(record.conversations) if t.speaker == "gpt")
        question = recover_question(record.conversations[ask].value, plan.markers)
        letter = record.conversations[reply].value.strip().rstrip(".").strip()
        if question is None:
            markers = plan.markers
            check.add(
                file,
                f"not a routing prompt: no question between {markers.question_start!r} "
                f"and {markers.question_end!r}",
                record.id,
                f"conversations[{ask}]",
            )
        elif letter not in letters:
            check.add(
                file,
                f"answer {letter!r} is not a letter of the router letter map ({known})",
                record.id,
                f"conversations[{reply}]",
            )
        elif letters[letter] in by_task:
            turns = [Turn(speaker="human", value=f"{IMAGE_TOKEN}\n{question}")]
            turns.append(Turn(speaker="gpt", value=letter))
            by_task[letters[letter]].append(
                TrainRecord(id=record.id, image=record.image, conversations=turns)
            )
    task_letters = {task: letter for letter, task in letters.items()}
    rel = plan.relative(file)
    return {
        task: TrainSplit(
            records=found, images=root_set.images, source=f"{rel} (letter {task_letters[task]})"
        )
        for task, found in by_task.items()
        if found
    }


def _replay_set(check: _Checker, plan: SourcePlan, root_set: RootSet) -> dict[str, TrainSplit]:
    """The replay baselines' records per planned task: a record belongs to the task whose
    folder holds its image; records of other tasks' folders are left out."""
    file, images = root_set.file, root_set.images
    records = _train_records(check, file, images) or []
    owners = {}
    for task in plan.tasks:
        for split in (task.train, task.test):
            if split.parent.is_relative_to(images) and split.parent != images:
                owners[split.parent.relative_to(images).as_posix().lower()] = task.spec.name
    by_task: dict[str, list[TrainRecord]] = {name: [] for name in plan.names}
    for record in records:
        path = record.image.lower()
        owner = next((t for folder, t in owners.items() if path.startswith(folder + "/")), None)
        if owner is not None:
            by_task[owner].append(record)
        elif not _in_a_task_folder(images, record.image):
            check.add(
                file,
                f"{record.image!r} is not in a task's folder, so its task is unknown",
                record.id,
                "image",
            )
    rel = plan.relative(file)
    return {
        task: TrainSplit(records=found, images=images, source=rel)
        for task, found in by_task.items()
        if found
    }


def _in_a_task_folder(images: Path, image: str) -> bool:
    """Whether the image lies in a folder of the source's other tasks (one holding a split)."""
    parts = PurePosixPath(image).parts
    if len(parts) < 2:
        return False
    folder = images / parts[0]
    return (folder / TRAIN_FILE).is_file() or (folder / TEST_FILE).is_file()


def _sample(split: TrainSplit, count: int, seed: int, name: str) -> TrainSplit:
    rng = random.Random(f"mllmcl-replay:{seed}:{name}")
    picked = sorted(rng.sample(range(len(split.records)), min(count, len(split.records))))
    return TrainSplit(
        records=[split.records[i] for i in picked],
        images=split.images,
        source=f"{len(picked)} sampled from {split.source}",
    )


def validate_source(
    plan: SourcePlan, replay_per_task: int, seed: int, max_pixels: int
) -> list[ValidatedTask]:
    """Validate every planned task and the root-level sets; raise one error listing every
    problem found. A task without records in a root-level set gets `replay_per_task` samples
    drawn from its training split instead."""
    check = _Checker(max_pixels)
    routed = _router_set(check, plan, plan.router_set) if plan.router_set else {}
    replayed = _replay_set(check, plan, plan.replay_set) if plan.replay_set else {}
    tasks = []
    for source in plan.tasks:
        train = _train_records(check, source.train, source.train.parent)
        test = _test_records(check, source.test, source.test.parent)
        if train is None or test is None:
            continue
        name = source.spec.name
        train_split = TrainSplit(
            records=train, images=source.train.parent, source=plan.relative(source.train)
        )
        sampled = _sample(train_split, replay_per_task, seed, name)
        tasks.append(
            ValidatedTask(
                spec=source.spec,
                train=train_split,
                test=TestSplit(
                    records=test, images=source.test.parent, source=plan.relative(source.test)
                ),
                router=routed.get(name, sampled),
                replay=replayed.get(name, sampled),
            )
        )
    if check.problems:
        raise SourceValidationError(check.problems)
    return tasks
