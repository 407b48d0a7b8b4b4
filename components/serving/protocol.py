"""MLflow's scoring protocol for the bundle's two text columns: a JSON body holding
`dataframe_split`, `dataframe_records`, `inputs` or `instances`. The body's shape is checked
strictly; a problem names the row and field it is about."""

from __future__ import annotations

from typing import Any

from components.serving.inputs import FieldProblem, RequestError
from components.serving.limits import ServingLimits

COLUMNS = ("image", "question")
FORMATS = ("dataframe_split", "dataframe_records", "inputs", "instances")


def _refuse(message: str, field: str = "body", row: int = 0, status: int = 400) -> RequestError:
    return RequestError([FieldProblem(row, field, message)], status=status)


def _check_count(count: int, limits: ServingLimits) -> None:
    if count == 0:
        raise _refuse("no rows")
    if count > limits.max_rows:
        raise _refuse(
            f"{count} rows exceeds the limit of {limits.max_rows}", "*", limits.max_rows, 413
        )


def _from_records(records: Any, limits: ServingLimits) -> tuple[list[Any], list[Any]]:
    if not isinstance(records, list):
        raise _refuse("expected a list of {image, question} records")
    _check_count(len(records), limits)
    for row, record in enumerate(records):
        if not isinstance(record, dict):
            raise _refuse("expected an object with image and question", "*", row)
        unknown = sorted(set(record) - set(COLUMNS))
        if unknown:
            raise _refuse(f"unknown column(s) {', '.join(map(str, unknown))[:200]}", "*", row)
    return [r.get("image") for r in records], [r.get("question") for r in records]


def _from_columns(columns: Any, limits: ServingLimits) -> tuple[list[Any], list[Any]]:
    if not isinstance(columns, dict) or set(columns) != set(COLUMNS):
        raise _refuse("expected exactly the columns image and question")
    images, questions = columns["image"], columns["question"]
    if not isinstance(images, list) or not isinstance(questions, list):
        raise _refuse("each column must be a list")
    if len(images) != len(questions):
        raise _refuse("the columns image and question differ in length")
    _check_count(len(images), limits)
    return images, questions


def _from_split(split: Any, limits: ServingLimits) -> tuple[list[Any], list[Any]]:
    if not isinstance(split, dict) or not isinstance(split.get("data"), list):
        raise _refuse("dataframe_split needs columns and data")
    columns = split.get("columns")
    if not isinstance(columns, list) or sorted(map(str, columns)) != sorted(COLUMNS):
        raise _refuse("dataframe_split: expected exactly the columns image and question")
    data = split["data"]
    _check_count(len(data), limits)
    for row, values in enumerate(data):
        if not isinstance(values, list) or len(values) != len(columns):
            raise _refuse(f"expected a list of {len(columns)} values", "*", row)
    at = {name: columns.index(name) for name in COLUMNS}
    return [v[at["image"]] for v in data], [v[at["question"]] for v in data]


def read_columns(payload: Any, limits: ServingLimits) -> tuple[list[Any], list[Any]]:
    """The image and question columns of a request body, in row order."""
    if not isinstance(payload, dict) or len(payload) != 1 or next(iter(payload)) not in FORMATS:
        raise _refuse("expected one of " + ", ".join(FORMATS))
    kind, content = next(iter(payload.items()))
    if kind == "dataframe_split":
        return _from_split(content, limits)
    if kind == "dataframe_records" or isinstance(content, list):
        return _from_records(content, limits)
    return _from_columns(content, limits)
