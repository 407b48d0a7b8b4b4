"""Scoring answer sources on test splits with each task's official scorer: a routed bundle (which
also yields router accuracy: the share of items routed to their own task's expert) or one model
alone (a baseline adapter, or the base for the Zero-shot row)."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from components.data.build import Manifest, load_split
from components.evaluation.predictions import prediction_records
from components.evaluation.scorers import gold_answer, score
from components.models.mrlora.two_stage import TwoStage
from components.models.prompts import Sample
from components.models.samples import evaluation_samples


class TaskScore(BaseModel):
    task: str
    accuracy: float  # percent, the official scorer's
    report: dict[str, Any]
    predictions: list[dict[str, Any]]  # official JSON-lines records
    routed_right: float | None = None  # percent routed to this task's expert (bundles only)
    answer_seconds: float = 0.0  # answering its items, the model already loaded
    low_confidence: float | None = None  # percent routed with less confidence than the floor
    golds: list[str] = []  # each prediction's gold answer, in their order
    item_scores: list[float] = []  # each prediction's score under the task's scorer (0 to 1)

    def table(self) -> dict[str, list[Any]]:
        """Every item in columns: question, gold, prediction, whether it was right, and
        (routed) the expert that answered and what the router said."""
        columns: dict[str, list[Any]] = {
            "question_id": [str(p["question_id"]) for p in self.predictions],
            "prediction": [p["text"] for p in self.predictions],  # what MLflow compares first
            "gold": self.golds,
            "correct": [s == 1.0 for s in self.item_scores],
            "score": self.item_scores,
        }
        for field in ("expert", "confidence", "router_output"):
            if any(field in p["metadata"] for p in self.predictions):
                columns[field] = [p["metadata"].get(field, "") for p in self.predictions]
        columns["prompt"] = [p["prompt"] for p in self.predictions]
        return columns


class Evaluation(BaseModel):
    scores: dict[str, TaskScore]

    def accuracies(self) -> dict[str, float]:
        return {task: s.accuracy for task, s in self.scores.items()}

    @property
    def router_accuracy(self) -> float | None:
        """Share of routed items (over the tasks that have an expert) sent to the right one."""
        routed = [
            (s.routed_right, len(s.predictions))
            for s in self.scores.values()
            if s.routed_right is not None
        ]
        if not routed:
            return None
        items = sum(count for _, count in routed)
        return sum(share * count for share, count in routed) / max(1, items)

    def router_mistakes(self) -> dict[str, list[Any]]:
        """Every item of a task with an expert that the router sent elsewhere, in columns: the
        item, the right expert, the chosen one, the router's confidence and output, the
        question."""
        wrong = [
            (task, p)
            for task, s in self.scores.items()
            if s.routed_right is not None
            for p in s.predictions
            if p["metadata"].get("expert") != task
        ]
        return {
            "question_id": [str(p["question_id"]) for _, p in wrong],
            "right_expert": [task for task, _ in wrong],
            "chosen_expert": [p["metadata"].get("expert", "") for _, p in wrong],
            "confidence": [p["metadata"].get("confidence") for _, p in wrong],
            "router_output": [p["metadata"].get("router_output", "") for _, p in wrong],
            "prompt": [p["prompt"] for _, p in wrong],
        }

    def confusion(self) -> dict[str, dict[str, int]]:
        """Over the tasks with an expert: each task's items by the expert they were routed to."""
        return {
            task: dict(Counter(str(p["metadata"].get("expert", "")) for p in s.predictions))
            for task, s in self.scores.items()
            if s.routed_right is not None
        }

    def low_confidence_share(self) -> float:
        """Percent of the items of tasks with an expert routed below the confidence floor."""
        counted = [
            (s.low_confidence, len(s.predictions))
            for s in self.scores.values()
            if s.routed_right is not None and s.low_confidence is not None
        ]
        items = sum(count for _, count in counted)
        return sum(share * count for share, count in counted) / max(1, items)

    def question_kinds(self) -> dict[str, dict[str, float]]:
        """Accuracy per question kind, for each task whose scorer reports several."""
        return {
            task: {kind: c["accuracy"] for kind, c in s.report.get("categories", {}).items()}
            for task, s in self.scores.items()
            if len(s.report.get("categories", {})) > 1
        }

    @property
    def seconds_per_item(self) -> float:
        """The inference cost: seconds to answer one test item, averaged over every task."""
        items = sum(len(s.predictions) for s in self.scores.values())
        return sum(s.answer_seconds for s in self.scores.values()) / max(1, items)


Answerer = Callable[[Sequence[Sample]], tuple[list[str], list[dict[str, Any]]]]


def _score_task(
    manifest: Manifest, data_dir: Path, task: str, answerer: Answerer, model_id: str
) -> tuple[TaskScore, list[dict[str, Any]]]:
    entry = manifest.task(task)
    samples, annotations = evaluation_samples(
        load_split(data_dir, manifest.benchmark, task, "test")
    )
    started = time.perf_counter()
    answers, metadata = answerer(samples)
    seconds = time.perf_counter() - started
    records = prediction_records(annotations, answers, [s.question for s in samples], model_id)
    for item, extra in zip(records, metadata, strict=True):
        item["metadata"] = extra
    scored = score(entry.spec.scorer, annotations, records)
    result = TaskScore(
        task=task,
        accuracy=scored.accuracy,
        report=scored.as_dict(),
        predictions=records,
        answer_seconds=seconds,
        golds=[gold_answer(a) for a in annotations],
        item_scores=scored.items,
    )
    return result, metadata


def evaluate_bundle(
    bundle: TwoStage,
    data_dir: Path,
    manifest: Manifest,
    tasks: Sequence[str],
    model_id: str,
    confidence_floor: float,
) -> Evaluation:
    """Route and answer every test item of `tasks`; each prediction's metadata names the expert
    chosen, the router's confidence and its raw output. Each task counts the items routed with
    less confidence than `confidence_floor`."""

    def answer(samples: Sequence[Sample]) -> tuple[list[str], list[dict[str, Any]]]:
        routed = bundle.answer(samples)
        meta = [
            {"expert": r.task, "confidence": r.confidence, "router_output": r.router_output}
            for r in routed
        ]
        return [r.answer for r in routed], meta

    pool = {e.task for e in bundle.spec.experts}
    scores = {}
    for task in tasks:
        result, metadata = _score_task(manifest, data_dir, task, answer, model_id)
        items = max(1, len(metadata))
        if task in pool:
            result.routed_right = 100.0 * sum(m["expert"] == task for m in metadata) / items
        unsure = sum(m["confidence"] < confidence_floor for m in metadata)
        result.low_confidence = 100.0 * unsure / items
        scores[task] = result
    return Evaluation(scores=scores)


def evaluate_model(
    answer_all: Callable[[Sequence[Sample]], list[str]],
    data_dir: Path,
    manifest: Manifest,
    tasks: Sequence[str],
    model_id: str,
) -> Evaluation:
    """Score one model (no routing) on every test item of `tasks`."""

    def answer(samples: Sequence[Sample]) -> tuple[list[str], list[dict[str, Any]]]:
        return answer_all(samples), [{} for _ in samples]

    return Evaluation(
        scores={task: _score_task(manifest, data_dir, task, answer, model_id)[0] for task in tasks}
    )
