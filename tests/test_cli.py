"""The `mllmcl` command's generate and score subcommands (prepare is covered with the flow)."""

import json

from typer.testing import CliRunner

from cli.main import app

runner = CliRunner()


def test_generate_writes_the_layout(tmp_path):
    result = runner.invoke(
        app, ["generate", "--track", "ability", "--out", str(tmp_path / "b"), "--preset", "micro"]
    )
    assert result.exit_code == 0, result.output
    assert "OCR: 24 train, 12 test, 20 router" in result.output
    assert (tmp_path / "b" / "APP_test" / "test.json").is_file()


def test_generate_rejects_an_unknown_track(tmp_path):
    result = runner.invoke(app, ["generate", "--track", "music", "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert "unknown track 'music'" in result.output


def _write_inputs(tmp_path):
    annotations = [
        {
            "question_id": 1,
            "answer": ["cat"],
            "answer_type": "Regular Text Recognition",
            "image": "a.png",
        },
        {
            "question_id": 2,
            "answer": ["42"],
            "answer_type": "Digit String Recognition",
            "image": "b.png",
        },
    ]
    predictions = [
        {
            "question_id": 1,
            "prompt": "what is written?",
            "text": "Cat",
            "answer_id": "x",
            "model_id": "m",
            "metadata": {},
        },
        {
            "question_id": 2,
            "prompt": "what number?",
            "text": "41",
            "answer_id": "y",
            "model_id": "m",
            "metadata": {},
        },
    ]
    (tmp_path / "test.json").write_text(json.dumps(annotations))
    (tmp_path / "preds.jsonl").write_text("\n".join(json.dumps(p) for p in predictions) + "\n")
    return [
        "--annotations",
        str(tmp_path / "test.json"),
        "--predictions",
        str(tmp_path / "preds.jsonl"),
    ]


def test_score_prints_accuracy_samples_and_categories(tmp_path):
    result = runner.invoke(app, ["score", "--scorer", "ocr", *_write_inputs(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "Samples: 2\nAccuracy: 50.00%" in result.output
    assert "answer_type=Regular Text Recognition: 100.00% (1/1)" in result.output


def test_score_json(tmp_path):
    result = runner.invoke(app, ["score", "--scorer", "ocr", "--json", *_write_inputs(tmp_path)])
    payload = json.loads(result.stdout)
    assert payload["accuracy"] == 50.0 and payload["samples"] == 2
    assert payload["categories"]["answer_type=Digit String Recognition"]["hits"] == 0


def test_score_reports_bad_prediction_lines(tmp_path):
    args = _write_inputs(tmp_path)
    (tmp_path / "preds.jsonl").write_text('{"question_id": 1, "text": "cat"}\n{oops\n')
    result = runner.invoke(app, ["score", "--scorer", "ocr", *args])
    assert result.exit_code == 2
    assert "preds.jsonl: line 2: invalid JSON" in result.output
