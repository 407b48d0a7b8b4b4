"""Reading test annotations (MLLM-CL test.json) and predictions (official JSON lines)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def read_annotations(path: Path) -> list[dict[str, Any]]:
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}: invalid JSON at line {error.lineno}: {error.msg}") from None
    if not isinstance(payload, list):
        raise ValueError(f"{path}: expected a JSON list of test records")
    for index, record in enumerate(payload):
        if not isinstance(record, dict) or "question_id" not in record or "answer" not in record:
            raise ValueError(f"{path}: record #{index}: needs question_id and answer")
    return payload


def read_predictions(path: Path) -> list[dict[str, Any]]:
    records = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise ValueError(f"{path}: line {number}: invalid JSON: {error.msg}") from None
        if not isinstance(record, dict) or "question_id" not in record or "text" not in record:
            raise ValueError(f"{path}: line {number}: needs question_id and text")
        records.append(record)
    return records


def prediction_records(
    annotations: list[dict[str, Any]], answers: list[str], prompts: list[str], model_id: str
) -> list[dict[str, Any]]:
    """Answers in the official JSON-lines form: question_id, prompt, text, answer_id, model_id,
    metadata."""
    return [
        {
            "question_id": annotation["question_id"],
            "prompt": prompt,
            "text": answer,
            "answer_id": f"{model_id}:{annotation['question_id']}",
            "model_id": model_id,
            "metadata": {},
        }
        for annotation, answer, prompt in zip(annotations, answers, prompts, strict=True)
    ]


def write_predictions(records: list[dict[str, Any]], path: Path) -> None:
    path.write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8"
    )
