"""Finding the tasks of an MLLM-CL source folder, the files of their splits and the download's
root-level router and replay sets, and fingerprinting their content.

The official layout is read as it is: a task's training split in `<Task>/train.json`, its test
split in `<Task>/test.json` (domain track) or `<Task>_test/test.json` (ability track), folder
names matched whatever their case. Other names are given in the source's benchmark.json."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path, PurePosixPath
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from components.data.layout import (
    BENCHMARK_FILE,
    OFFICIAL_REPLAY_SETS,
    OFFICIAL_ROUTER_SETS,
    TEST_FILE,
    TEST_FOLDER_SUFFIX,
    TRAIN_FILE,
)
from components.data.problems import Problem, SourceValidationError
from components.data.routing_prompt import PromptMarkers
from components.data.tasks import (
    KNOWN_TASKS,
    OFFICIAL_LETTERS,
    TRACK_ORDER,
    ScorerName,
    TaskSpec,
    Track,
)


class DeclaredTask(BaseModel):
    """A task entry of benchmark.json: a known task needs only its name; `train` and `test`
    name the split files (relative to the source root) where they are not the usual ones."""

    model_config = ConfigDict(extra="forbid")
    name: str
    track: Track | None = None
    scorer: ScorerName | None = None
    description: str | None = None
    train: str | None = None
    test: str | None = None


class DeclaredSet(BaseModel):
    """A root-level set of benchmark.json: its JSON file and the folder its image paths are
    relative to (both relative to the source root)."""

    model_config = ConfigDict(extra="forbid")
    file: str
    images: str = "."


class BenchmarkFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    track: Track | None = None
    tasks: list[DeclaredTask] = []
    router_set: DeclaredSet | None = None
    replay_set: DeclaredSet | None = None
    router_letters: dict[str, str] | None = None  # letter -> task, for the router set's answers
    router_prompt: PromptMarkers = PromptMarkers()
    generator: dict[str, Any] | None = None  # written by our generator; informative only


class RootSet(BaseModel, frozen=True):
    file: Path
    images: Path


class TaskSource(BaseModel, frozen=True):
    spec: TaskSpec
    train: Path  # the split's JSON file; its image paths are relative to its folder
    test: Path


class SourcePlan(BaseModel):
    """Which tasks of a source to ingest, in order, where their splits are, and the
    download's router and replay sets when it has them."""

    root: Path
    track: Track | None
    tasks: list[TaskSource]
    router_set: RootSet | None = None
    replay_set: RootSet | None = None
    letters: dict[str, str] = {}  # letter -> task, to read the router set
    markers: PromptMarkers = PromptMarkers()

    @property
    def names(self) -> list[str]:
        return [t.spec.name for t in self.tasks]

    def relative(self, path: Path) -> str:
        return (
            path.relative_to(self.root).as_posix() if path.is_relative_to(self.root) else str(path)
        )


def _read_benchmark_file(root: Path) -> BenchmarkFile | None:
    path = root / BENCHMARK_FILE
    if not path.is_file():
        return None
    try:
        return BenchmarkFile.model_validate(json.loads(path.read_text(encoding="utf-8")))
    except (json.JSONDecodeError, UnicodeDecodeError, ValidationError) as error:
        raise SourceValidationError(
            [Problem(path, f"not a valid benchmark file: {error}")]
        ) from None


class _Finder:
    """Resolves names under the root, collecting a problem for each that does not resolve."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.folders = {p.name: p for p in root.iterdir() if p.is_dir()}
        self.problems: list[Problem] = []

    def folder(self, name: str) -> Path | None:
        """The folder called `name`, or its only case-insensitive match."""
        if name in self.folders:
            return self.folders[name]
        matches = [p for n, p in self.folders.items() if n.lower() == name.lower()]
        return matches[0] if len(matches) == 1 else None

    def inside(self, rel: str, field: str, record: str | None) -> Path | None:
        """A path of benchmark.json, which must stay inside the root."""
        pure = PurePosixPath(rel.replace("\\", "/"))
        path = (self.root / pure).resolve()
        if pure.is_absolute() or ".." in pure.parts or not path.is_relative_to(self.root):
            self.add_declared(f"{rel!r} is not a path inside the source folder", record, field)
            return None
        return path

    def declared_split(self, rel: str, split: str, task: str) -> Path | None:
        """A split file that benchmark.json names for a task."""
        path = self.inside(rel, split, task)
        if path is not None and not path.is_file():
            self.add_declared(f"{split} split {rel!r} not found", task, split)
            return None
        return path

    def add_declared(self, message: str, record: str | None, field: str) -> None:
        self.problems.append(Problem(self.root / BENCHMARK_FILE, message, record, field))

    def task_folders(self) -> list[str]:
        """Folders holding a training split: the tasks of a source without a task list."""
        return sorted(
            name
            for name, path in self.folders.items()
            if (path / TRAIN_FILE).is_file() and not name.lower().endswith(TEST_FOLDER_SUFFIX)
        )


def _spec(name: str, declared: DeclaredTask | None) -> TaskSpec | None:
    fields = {k: v for k, v in (declared.model_dump() if declared else {}).items() if v is not None}
    fields = {k: v for k, v in fields.items() if k in TaskSpec.model_fields}
    if name in KNOWN_TASKS:
        return KNOWN_TASKS[name].model_copy(update=fields)
    try:
        return TaskSpec.model_validate({**fields, "name": name})
    except ValidationError:
        return None


def _train_file(find: _Finder, name: str, declared: DeclaredTask | None) -> Path | None:
    if declared is not None and declared.train is not None:
        return find.declared_split(declared.train, "train", name)
    folder = find.folder(name)
    if folder is None or not (folder / TRAIN_FILE).is_file():
        find.problems.append(
            Problem(find.root / name, f"task folder not found (expected {name}/{TRAIN_FILE})")
        )
        return None
    return folder / TRAIN_FILE


def _test_file(find: _Finder, name: str, declared: DeclaredTask | None) -> Path | None:
    if declared is not None and declared.test is not None:
        return find.declared_split(declared.test, "test", name)
    folders = [find.folder(name), find.folder(name + TEST_FOLDER_SUFFIX)]
    found = [f / TEST_FILE for f in folders if f is not None and (f / TEST_FILE).is_file()]
    looked = f"{name}/{TEST_FILE} or {name}{TEST_FOLDER_SUFFIX}/{TEST_FILE}"
    if not found:
        find.problems.append(
            Problem(find.root / name, f"test split not found (looked for {looked})")
        )
        return None
    if len(found) > 1:
        find.problems.append(
            Problem(
                find.root / name,
                f"two test splits ({looked}): name the one to use in {BENCHMARK_FILE} "
                '(the task\'s "test" key)',
            )
        )
        return None
    return found[0]


def _root_set(
    find: _Finder, declared: DeclaredSet | None, official: list[tuple[str, str]], field: str
) -> RootSet | None:
    """The declared set, else the one official set present (none: the set is optional)."""
    if declared is not None:
        file = find.inside(declared.file, f"{field}.file", None)
        images = find.inside(declared.images, f"{field}.images", None)
        if file is not None and not file.is_file():
            find.add_declared(f"{declared.file!r} not found", None, f"{field}.file")
        elif images is not None and not images.is_dir():
            find.add_declared(
                f"image folder {declared.images!r} not found", None, f"{field}.images"
            )
        elif file is not None and images is not None:
            return RootSet(file=file, images=images)
        return None
    present = [(f, i) for f, i in official if (find.root / f).is_file()]
    if len(present) > 1:
        names = ", ".join(f for f, _ in present)
        find.problems.append(
            Problem(find.root, f"{names}: more than one {field}; choose one in {BENCHMARK_FILE}")
        )
        return None
    if not present:
        return None
    file_name, images_name = present[0]
    if not (find.root / images_name).is_dir():
        find.problems.append(
            Problem(
                find.root / file_name,
                f"its image folder {images_name}/ is missing from the source",
            )
        )
        return None
    return RootSet(file=find.root / file_name, images=find.root / images_name)


def _letters(
    declared: BenchmarkFile | None, track: Track | None, specs: list[TaskSpec]
) -> dict[str, str]:
    if declared is not None and declared.router_letters is not None:
        return declared.router_letters
    tracks = {spec.track for spec in specs}
    track = track or (tracks.pop() if len(tracks) == 1 else None)
    return dict(OFFICIAL_LETTERS[track]) if track else {}


def plan_source(
    root: Path, track: Track | None = None, tasks: list[str] | None = None
) -> SourcePlan:
    """Tasks come from `tasks`, else benchmark.json's order, else the track's order, else the
    folders found. Specs come from benchmark.json, else the built-in MLLM-CL tasks."""
    root = root.resolve()
    if not root.is_dir():
        raise SourceValidationError([Problem(root, "source folder not found")])
    declared = _read_benchmark_file(root)
    if declared is not None:
        if track is not None and declared.track not in (None, track):
            raise SourceValidationError(
                [Problem(root / BENCHMARK_FILE, f"track is {declared.track!r}, not {track!r}")]
            )
        track = track or declared.track
    by_name = {t.name: t for t in declared.tasks} if declared else {}
    find = _Finder(root)
    found = find.task_folders()
    if tasks:
        names = tasks
    elif by_name:
        names = list(by_name)
    elif track is not None:
        present = {name.lower() for name in found}
        names = [name for name in TRACK_ORDER[track] if name.lower() in present]
    else:
        names = found
    if not names:
        find.problems.append(Problem(root, f"no task folders (with {TRAIN_FILE}) found"))
    sources = []
    for name in names:
        spec = _spec(name, by_name.get(name))
        train = _train_file(find, name, by_name.get(name))
        test = _test_file(find, name, by_name.get(name)) if train is not None else None
        if spec is None and train is not None:
            find.problems.append(
                Problem(
                    root / name,
                    f"unknown task: describe it in {BENCHMARK_FILE} (track, scorer, description)",
                )
            )
        if spec is not None and train is not None and test is not None:
            sources.append(TaskSource(spec=spec, train=train, test=test))
    router_set = _root_set(
        find,
        declared.router_set if declared else None,
        list(OFFICIAL_ROUTER_SETS.values()),
        "router_set",
    )
    replay_set = _root_set(
        find,
        declared.replay_set if declared else None,
        [(file, ".") for file in OFFICIAL_REPLAY_SETS.values()],
        "replay_set",
    )
    letters = _letters(declared, track, [s.spec for s in sources])
    if router_set is not None and not letters:
        find.problems.append(
            Problem(
                router_set.file,
                f"no letter map to read its answers: set router_letters in {BENCHMARK_FILE}",
            )
        )
    if find.problems:
        raise SourceValidationError(find.problems)
    return SourcePlan(
        root=root,
        track=track,
        tasks=sources,
        router_set=router_set,
        replay_set=replay_set,
        letters=letters,
        markers=declared.router_prompt if declared else PromptMarkers(),
    )


class _Digests:
    """SHA-256 of files and folders (paths and bytes), each computed once."""

    def __init__(self) -> None:
        self._cache: dict[Path, str] = {}

    def file(self, path: Path) -> str:
        if path not in self._cache:
            with path.open("rb") as handle:
                self._cache[path] = hashlib.file_digest(handle, "sha256").hexdigest()
        return self._cache[path]

    def folder(self, folder: Path) -> str:
        if folder not in self._cache:
            digest = hashlib.sha256()
            for path in sorted(p for p in folder.rglob("*") if p.is_file()):
                digest.update(
                    f"{path.relative_to(folder).as_posix()}\0{self.file(path)}\n".encode()
                )
            self._cache[folder] = digest.hexdigest()
        return self._cache[folder]


def fingerprint_source(plan: SourcePlan) -> dict[str, str]:
    """Per task, a SHA-256 over its spec, where its splits are, every file of the folders they
    are in, and the root-level sets with their letter map: equal means unchanged."""
    digests = _Digests()
    shared: list[Any] = [plan.letters, plan.markers.model_dump()]
    for root_set in (plan.router_set, plan.replay_set):
        if root_set is not None:
            shared.append([plan.relative(root_set.file), digests.file(root_set.file)])
            if root_set.images != plan.root:
                shared.append(digests.folder(root_set.images))
    fingerprints = {}
    for task in plan.tasks:
        folders = sorted({task.train.parent, task.test.parent})
        payload = [
            task.spec.model_dump(),
            plan.relative(task.train),
            plan.relative(task.test),
            [digests.folder(folder) for folder in folders],
            shared,
        ]
        fingerprints[task.spec.name] = hashlib.sha256(
            json.dumps(payload, sort_keys=True).encode()
        ).hexdigest()
    return fingerprints
