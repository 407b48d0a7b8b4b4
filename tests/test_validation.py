"""Each kind of bad input is rejected with a message naming the file, record and field."""

import json
import shutil
from pathlib import Path

import pytest

from components.data.problems import SourceValidationError
from components.data.source import plan_source
from components.data.validation import validate_source

MAX_PIXELS = 89_478_485


@pytest.fixture
def source(micro_domain: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "source"
    shutil.copytree(micro_domain, copy)
    return copy


def _edit(path: Path, change) -> None:
    records = json.loads(path.read_text())
    change(records)
    path.write_text(json.dumps(records))


def _problems(folder: Path, task: str = "RS", max_pixels: int = MAX_PIXELS) -> list[str]:
    """The problems of one task (the root-level sets are read too: they hold its records)."""
    try:
        validate_source(plan_source(folder, tasks=[task]), 20, 0, max_pixels)
    except SourceValidationError as error:
        return [str(p) for p in error.problems]
    return []


def test_clean_source_passes(source):
    tasks = validate_source(plan_source(source), 20, 0, MAX_PIXELS)
    assert [t.spec.name for t in tasks] == ["RS", "Med", "AD", "Sci", "Fin"]
    assert all(len(t.router.records) == 20 == len(t.replay.records) for t in tasks)
    assert tasks[0].router.source == "task5Router_train20.json (letter E)"
    assert tasks[0].replay.source == "task5replay20_train.json"


def test_invalid_json_names_line_and_column(source):
    (source / "RS" / "train.json").write_text('[{"id": "a",,}]')
    [problem] = _problems(source)
    assert str(source / "RS" / "train.json") in problem
    assert "invalid JSON at line 1 column" in problem


def test_duplicate_id(source):
    _edit(source / "RS" / "train.json", lambda r: r.__setitem__(1, {**r[1], "id": r[0]["id"]}))
    [problem] = _problems(source)
    assert (
        problem == f"{source / 'RS' / 'train.json'}: record RS-train-00000: field id: duplicate id"
    )


def test_missing_image_file(source):
    (source / "RS" / "images" / "test_00003.png").unlink()
    [problem] = _problems(source)
    assert "test.json: record RS-test-00003: field image: image file" in problem
    assert "not found" in problem


def test_path_leaving_the_task_folder(source):
    _edit(
        source / "RS" / "test.json",
        lambda r: r[0].__setitem__("image", "../Med/images/test_00000.png"),
    )
    _edit(source / "RS" / "test.json", lambda r: r[1].__setitem__("image", "/etc/passwd"))
    problems = _problems(source)
    assert any(
        "record RS-test-00000: field image:" in p and "leaves its image folder RS/" in p
        for p in problems
    )
    assert any("record RS-test-00001: field image:" in p and "is absolute" in p for p in problems)


def test_symlink_escaping_the_task_folder(source, tmp_path):
    outside = tmp_path / "outside.png"
    shutil.copy(source / "Med" / "images" / "test_00000.png", outside)
    (source / "RS" / "images" / "test_00002.png").unlink()
    (source / "RS" / "images" / "test_00002.png").symlink_to(outside)
    [problem] = _problems(source)
    assert (
        "record RS-test-00002: field image:" in problem
        and "outside its image folder RS/" in problem
    )


def test_unreadable_image(source):
    (source / "RS" / "images" / "train_00004.png").write_text("not a picture")
    problems = _problems(source)  # train.json, and the replay set if it holds the record
    assert any("train.json: record RS-train-00004: field image:" in p for p in problems)
    assert all("images/train_00004.png' is not a readable image" in p for p in problems)


def test_truncated_image(source):
    path = source / "RS" / "images" / "train_00005.png"
    path.write_bytes(path.read_bytes()[:60])
    problems = _problems(source)
    assert any("train.json: record RS-train-00005: field image:" in p for p in problems)
    assert all("train_00005.png" in p for p in problems)


@pytest.mark.parametrize("limit", [4000, 1500])  # above 1x and 2x of Pillow's limit
def test_decompression_bomb(source, limit):
    problems = _problems(source, max_pixels=limit)  # every 64x64 image is over the limit
    assert problems and all("decompression bomb" in p for p in problems)


def test_empty_task(source):
    (source / "RS" / "test.json").write_text("[]")
    [problem] = _problems(source)
    assert problem == f"{source / 'RS' / 'test.json'}: no records: the split is empty"


def test_missing_split_file(source):
    (source / "RS" / "test.json").unlink()
    assert _problems(source) == [
        f"{source / 'RS'}: test split not found (looked for RS/test.json or RS_test/test.json)"
    ]


def test_missing_answers(source):
    def drop_answers(records):
        del records[0]["answer"]
        records[1]["answer"] = []
        records[2]["answer"] = "  "

    _edit(source / "RS" / "test.json", drop_answers)
    _edit(source / "RS" / "train.json", lambda r: r[3]["conversations"][1].__setitem__("value", ""))
    problems = _problems(source)
    for ident in ("RS-test-00000", "RS-test-00001", "RS-test-00002"):
        assert any(f"record {ident}: field answer: missing answer" in p for p in problems)
    assert any("record RS-train-00003: field conversations: missing answer" in p for p in problems)


def test_wrong_types(source):
    def break_records(records):
        records[0]["id"] = True
        records[1]["conversations"] = "hello"
        records[2]["conversations"][0] = {"from": "robot", "value": "hi"}
        records[3] = "not an object"

    _edit(source / "RS" / "train.json", break_records)
    problems = _problems(source)
    assert any("record #0: field id: missing or not a string/integer id" in p for p in problems)
    assert any("record RS-train-00001: field conversations:" in p for p in problems)
    assert any("record RS-train-00002: field conversations[0]:" in p for p in problems)
    assert any("record #3: expected a JSON object, found str" in p for p in problems)


def test_top_level_must_be_a_list(source):
    (source / "RS" / "train.json").write_text('{"id": 1}')
    [problem] = _problems(source)
    assert "expected a JSON list of records, found dict" in problem


def test_every_problem_of_every_task_is_reported(source):
    (source / "RS" / "images" / "test_00000.png").unlink()
    (source / "Fin" / "images" / "test_00001.png").unlink()
    with pytest.raises(SourceValidationError) as caught:
        validate_source(plan_source(source), 20, 0, MAX_PIXELS)
    assert len(caught.value.problems) == 2
    assert "nothing was written" in str(caught.value)


def test_router_and_replay_are_sampled_when_the_source_has_no_sets(source):
    (source / "task5Router_train20.json").unlink()
    (source / "task5replay20_train.json").unlink()
    first = validate_source(plan_source(source, tasks=["RS"]), 5, 3, MAX_PIXELS)[0]
    again = validate_source(plan_source(source, tasks=["RS"]), 5, 3, MAX_PIXELS)[0]
    assert first.router.source == first.replay.source == "5 sampled from RS/train.json"
    assert [r.id for r in first.router.records] == [r.id for r in again.router.records]
    assert first.router.records == first.replay.records and len(first.router.records) == 5


def test_plan_rejects_unknown_and_missing_tasks(source):
    (source / "Weather").mkdir()
    (source / "Weather" / "train.json").write_text("[]")
    with pytest.raises(SourceValidationError) as caught:
        plan_source(source, tasks=["RS", "Weather", "Nope"])
    text = str(caught.value)
    assert "Weather: unknown task" in text and "Nope: task folder not found" in text
    (source / "benchmark.json").unlink()
    assert plan_source(source, track="domain").names == ["RS", "Med", "AD", "Sci", "Fin"]


def test_non_finite_answers_are_refused(source):
    # json.dumps writes NaN and Infinity as the bare words a hand-made file would hold.
    def break_answers(records):
        records[0]["answer"] = float("nan")
        records[1]["answer"] = [float("inf"), "3"]
        records[2]["answer"] = True

    _edit(source / "RS" / "test.json", break_answers)
    problems = _problems(source)
    test_file = source / "RS" / "test.json"
    assert (
        f"{test_file}: record RS-test-00000: field answer: nan is not a finite number"
        in " ".join(problems)
    )
    assert any(
        "record RS-test-00001: field answer: inf is not a finite number" in p for p in problems
    )
    assert any("record RS-test-00002: field answer: missing answer" in p for p in problems)


def test_backslash_image_paths_validate_and_build_as_forward_slashes(source, tmp_path):
    from components.data.build import build_task, load_split

    _edit(
        source / "RS" / "test.json", lambda r: r[0].__setitem__("image", "images\\test_00000.png")
    )
    _edit(
        source / "RS" / "train.json", lambda r: r[0].__setitem__("image", "images\\train_00000.png")
    )
    [validated] = validate_source(plan_source(source, tasks=["RS"]), 20, 0, MAX_PIXELS)
    assert validated.test.records[0].image == "images/test_00000.png"
    assert validated.train.records[0].image == "images/train_00000.png"
    build_task(validated, "hash", tmp_path / "built" / "RS")
    split = load_split(tmp_path, "built", "RS", "test")
    assert split[0]["image_file"] == "images/test_00000.png"
    _edit(source / "RS" / "test.json", lambda r: r[1].__setitem__("image", "..\\Med\\x.png"))
    assert any("leaves its image folder RS/" in p for p in _problems(source))
