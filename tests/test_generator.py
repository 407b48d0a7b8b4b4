import collections
import json
from pathlib import Path

import pytest
from PIL import Image, ImageStat

from components.data.generator.writer import generate_benchmark
from components.data.tasks import TRACK_ORDER


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_byte_identical_for_a_seed(tmp_path):
    first = generate_benchmark("ability", tmp_path / "a", seed=7, preset="micro", progress=False)
    generate_benchmark("ability", tmp_path / "b", seed=7, preset="micro", progress=False)
    generate_benchmark("ability", tmp_path / "c", seed=8, preset="micro", progress=False)
    assert _files(tmp_path / "a") == _files(tmp_path / "b")
    assert _files(tmp_path / "a") != _files(tmp_path / "c")
    assert first.counts["OCR"] == {"train": 24, "test": 12, "router": 20, "replay": 20}


def _folder(root: Path, task: str, split: str) -> Path:
    """The ability track keeps its test splits in <Task>_test/, as the download does."""
    beside = root / f"{task}_test"
    return beside if split == "test" and beside.is_dir() else root / task


def test_layout_matches_mllm_cl(micro_domain):
    assert sorted(p.name for p in micro_domain.iterdir() if p.is_dir()) == sorted(
        [*TRACK_ORDER["domain"], "num5sample_images20"]
    )
    train = json.loads((micro_domain / "RS" / "train.json").read_text())
    assert train[0]["conversations"][0]["value"].startswith("<image>\n")
    assert train[0]["conversations"][1]["from"] == "gpt"
    test = json.loads((micro_domain / "Sci" / "test.json").read_text())
    assert {"question_id", "image", "text", "answer"} <= set(test[0])
    prefixes = {Path(r["image"]).name.split("_")[0] for r in test}
    assert prefixes <= {"AI2D", "TQA", "MapQA"}  # the sci scorer depends on them
    ad_test = json.loads((micro_domain / "AD" / "test.json").read_text())
    with Image.open(micro_domain / "AD" / ad_test[0]["image"]) as mosaic:
        assert mosaic.size == (96, 64)  # 2 x 3 camera views


def test_refuses_to_overwrite_a_foreign_folder(tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    with pytest.raises(FileExistsError, match="not a generated benchmark"):
        generate_benchmark("domain", tmp_path / "mine", preset="micro", progress=False)
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"


@pytest.fixture(scope="module")
def default_tracks(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("default")
    return {
        track: generate_benchmark(track, root / track, preset="default", progress=False).root
        for track in TRACK_ORDER
    }


def _test_items(root: Path, task: str) -> list[tuple[str, str]]:
    records = json.loads((_folder(root, task, "test") / "test.json").read_text())
    return [(r["text"], json.dumps(r["answer"])) for r in records]


@pytest.mark.parametrize(
    ("track", "task"), [(t, name) for t, names in TRACK_ORDER.items() for name in names]
)
def test_not_trivial(default_tracks, track, task):
    items = _test_items(default_tracks[track], task)
    assert len(items) == 100
    most_common = collections.Counter(a for _, a in items).most_common(1)[0][1]
    assert most_common / len(items) <= 0.40
    # The answer depends on the image: the best guess from the question alone is often wrong.
    by_question = collections.defaultdict(collections.Counter)
    for question, answer in items:
        by_question[question][answer] += 1
    from_question_alone = sum(c.most_common(1)[0][1] for c in by_question.values()) / len(items)
    assert from_question_alone <= 0.6


def _mean_color(root: Path, task: str, split: str) -> list[float]:
    folder = _folder(root, task, split)
    records = json.loads((folder / f"{split}.json").read_text())[:50]
    stats = [ImageStat.Stat(Image.open(folder / r["image"]).convert("RGB")).mean for r in records]
    return [sum(channel) / len(stats) for channel in zip(*stats, strict=True)]


@pytest.mark.parametrize("task", TRACK_ORDER["ability"])
def test_ability_test_split_is_shifted(default_tracks, task):
    train = _mean_color(default_tracks["ability"], task, "train")
    test = _mean_color(default_tracks["ability"], task, "test")
    assert max(abs(a - b) for a, b in zip(train, test, strict=True)) > 40


@pytest.mark.parametrize("task", TRACK_ORDER["domain"])
def test_domain_splits_are_iid(default_tracks, task):
    train = _mean_color(default_tracks["domain"], task, "train")
    test = _mean_color(default_tracks["domain"], task, "test")
    assert max(abs(a - b) for a, b in zip(train, test, strict=True)) < 25
