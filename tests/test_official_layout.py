"""The MLLM-CL download is read as it is: test splits in `<Task>_test/` (any case) or named in
benchmark.json, the root-level router set (letters mapped to tasks, questions recovered from the
routing prompt) and replay set, and every problem named by file, record and field."""

import json
import shutil
from pathlib import Path

import pytest

from components.data.build import build_task, load_split
from components.data.generator.writer import generate_benchmark
from components.data.problems import SourceValidationError
from components.data.source import fingerprint_source, plan_source
from components.data.validation import validate_source
from tests.helpers import edit_records

MAX_PIXELS = 89_478_485


@pytest.fixture(scope="module")
def generated_ability(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("official") / "ability"
    generate_benchmark("ability", out, preset="micro", progress=False)
    return out


@pytest.fixture
def ability(generated_ability: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "Ability_data"
    shutil.copytree(generated_ability, copy)
    return copy


@pytest.fixture
def domain(micro_domain: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "Domain_data"
    shutil.copytree(micro_domain, copy)
    return copy


def _validate(root: Path, **plan) -> list:
    return validate_source(plan_source(root, **plan), 20, 0, MAX_PIXELS)


def _problems(root: Path, **plan) -> list[str]:
    with pytest.raises(SourceValidationError) as caught:
        _validate(root, **plan)
    return [str(p) for p in caught.value.problems]


def _declare(root: Path, **keys) -> None:
    path = root / "benchmark.json"
    declared = json.loads(path.read_text())
    declared.update(keys)
    path.write_text(json.dumps(declared))


def _router_ids(root: Path, file: str, letter: str) -> list[str]:
    records = json.loads((root / file).read_text())
    return [r["id"] for r in records if r["conversations"][1]["value"] == letter]


def test_the_generated_layout_is_the_download_layout(ability, domain):
    names = {p.name for p in ability.iterdir()}
    assert {"OCR", "OCR_test", "Math_test", "VP_test", "APP_test", "sample_images20"} <= names
    assert {"Router_train20.json", "replay20.json"} <= names
    assert not (ability / "OCR" / "test.json").exists()
    assert {"task5Router_train20.json", "task5replay20_train.json", "num5sample_images20"} <= {
        p.name for p in domain.iterdir()
    }
    [record] = json.loads((ability / "Router_train20.json").read_text())[:1]
    assert record["conversations"][0]["value"].startswith("<image>\n")
    assert record["conversations"][1]["value"] == "A"  # OCR's official letter
    assert (ability / "sample_images20" / record["image"]).is_file()


def test_ability_tests_are_found_beside_the_training_folders(ability):
    tasks = _validate(ability)
    assert [t.spec.name for t in tasks] == ["OCR", "Math", "VP", "APP"]
    vp = tasks[2]
    assert (vp.train.source, vp.test.source) == ("VP/train.json", "VP_test/test.json")
    assert vp.test.images == ability / "VP_test"


def test_the_router_split_holds_exactly_the_downloads_router_records(ability):
    tasks = {t.spec.name: t for t in _validate(ability)}
    for task, letter in {"OCR": "A", "VP": "B", "Math": "C", "APP": "D"}.items():
        router = tasks[task].router
        assert [r.id for r in router.records] == _router_ids(ability, "Router_train20.json", letter)
        assert router.source == f"Router_train20.json (letter {letter})"
        assert router.images == ability / "sample_images20"
        question = router.records[0].conversations[0].value
        assert question.startswith("<image>\n") and "user's question" not in question
    replay = tasks["Math"].replay
    assert replay.source == "replay20.json" and len(replay.records) == 20
    assert all(r.image.startswith("Math/images/") for r in replay.records)


def test_naming_variants_of_the_official_scripts(ability, tmp_path):
    (ability / "Math_test").rename(ability / "math_test")
    (ability / "VP_test").rename(ability / "CV-Benchv2")
    (ability / "OCR" / "train.json").rename(ability / "OCR" / "train_without_dense_caption.json")
    _declare(
        ability,
        tasks=[
            {"name": "OCR", "train": "OCR/train_without_dense_caption.json"},
            {"name": "Math"},
            {"name": "VP", "test": "CV-Benchv2/test.json"},
            {"name": "APP"},
        ],
    )
    tasks = {t.spec.name: t for t in _validate(ability)}
    assert tasks["Math"].test.source == "math_test/test.json"
    assert tasks["VP"].test.source == "CV-Benchv2/test.json"
    assert tasks["OCR"].train.source == "OCR/train_without_dense_caption.json"
    assert tasks["VP"].spec.scorer == "sat"  # a known task keeps its built-in spec
    entry = build_task(tasks["VP"], "hash", tmp_path / "built" / "VP")
    assert entry.counts == {"train": 24, "test": 12, "router": 20, "replay": 20}
    assert load_split(tmp_path, "built", "VP", "test")[0]["image"].size[0] > 0


def test_a_test_split_in_two_places_must_be_named(ability):
    shutil.copy(ability / "OCR_test" / "test.json", ability / "OCR" / "test.json")
    [problem] = _problems(ability)
    assert "OCR: two test splits" in problem and '"test" key' in problem


def test_declared_files_must_exist_and_stay_inside(ability):
    _declare(
        ability,
        tasks=[{"name": "OCR", "test": "../elsewhere/test.json"}, {"name": "VP", "test": "x.json"}],
    )
    problems = _problems(ability)
    assert any("benchmark.json: record OCR: field test: '../elsewhere" in p for p in problems)
    assert any("record VP: field test: test split 'x.json' not found" in p for p in problems)
    _declare(ability, tasks=[], unknown_key=1)
    assert "not a valid benchmark file" in _problems(ability)[0]


def test_router_record_problems_are_named(ability):
    def spoil(records):
        records[0]["conversations"][1]["value"] = "F"
        records[1]["conversations"][0]["value"] = "<image>\nWhich expert? A, B, C or D."
        records[2]["image"] = "missing.png"

    edit_records(ability / "Router_train20.json", spoil)
    problems = _problems(ability)
    file = ability / "Router_train20.json"
    assert any(
        p.startswith(f"{file}: record router-OCR-train-")
        and "field conversations[1]: answer 'F' is not a letter" in p
        for p in problems
    )
    assert any("field conversations[0]: not a routing prompt" in p for p in problems)
    assert any("field image: image file 'missing.png' not found" in p for p in problems)
    assert len(problems) == 3


def test_a_declared_letter_map_assigns_the_records(ability):
    _declare(ability, router_letters={"A": "VP", "B": "OCR", "C": "Math", "D": "APP"})
    tasks = {t.spec.name: t for t in _validate(ability)}
    assert [r.id for r in tasks["VP"].router.records] == _router_ids(
        ability, "Router_train20.json", "A"
    )


def test_a_task_the_sets_do_not_cover_samples_its_own(ability):
    edit_records(
        ability / "Router_train20.json",
        lambda r: r.__setitem__(
            slice(None), [x for x in r if x["conversations"][1]["value"] != "D"]
        ),
    )
    edit_records(
        ability / "replay20.json",
        lambda r: r.__setitem__(slice(None), [x for x in r if not x["image"].startswith("APP/")]),
    )
    app = _validate(ability)[3]
    assert app.router.source == app.replay.source == "20 sampled from APP/train.json"
    assert len(app.router.records) == 20


def test_only_planned_tasks_take_router_and_replay_records(domain):
    [rs] = _validate(domain, tasks=["RS"])
    assert rs.router.source == "task5Router_train20.json (letter E)"
    assert all(r.image.startswith("RS/") for r in rs.replay.records)


def test_replay_records_outside_the_task_folders_are_refused(domain):
    edit_records(
        domain / "task5replay20_train.json", lambda r: r[0].__setitem__("image", "stray.png")
    )
    shutil.copy(domain / "RS" / "images" / "train_00000.png", domain / "stray.png")
    [problem] = _problems(domain)
    assert "task5replay20_train.json: record" in problem
    assert "field image: 'stray.png' is not in a task's folder" in problem


def test_a_router_set_without_its_image_folder_is_named(domain):
    shutil.rmtree(domain / "num5sample_images20")
    [problem] = _problems(domain)
    assert problem == (
        f"{domain / 'task5Router_train20.json'}: "
        "its image folder num5sample_images20/ is missing from the source"
    )


def test_the_fingerprint_follows_every_file_a_task_reads(ability):
    before = fingerprint_source(plan_source(ability))
    image = next((ability / "sample_images20").iterdir())
    image.write_bytes(image.read_bytes() + b"\0")
    after = fingerprint_source(plan_source(ability))
    assert all(before[t] != after[t] for t in before)  # the router set is shared
    (ability / "VP_test" / "test.json").write_text("[]")
    again = fingerprint_source(plan_source(ability))
    assert [t for t in after if after[t] != again[t]] == ["VP"]
