"""An evaluation into the active MLflow run: accuracy per task at continual step `step` (so the
MLflow UI draws each task's curve over the steps), router accuracy, every task's predictions in
the official JSON-lines form and as a table (`predictions/<task>.json`: question, gold,
prediction, correct, routed expert; the same file name in every evaluation run, so MLflow's
evaluation view sets the runs' answers side by side), the router's confusion matrix, and its
mistakes (`routing/mistakes.json`: each item sent to another task's expert, with the right and
the chosen expert and the router's confidence)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import mlflow
import pandas as pd

from components.evaluation.plots import confusion_png
from components.evaluation.predictions import write_predictions
from components.evaluation.routed import Evaluation


def log_evaluation(evaluation: Evaluation, step: int, prefix: str = "") -> None:
    metrics = {f"{prefix}accuracy.{t}": s.accuracy for t, s in evaluation.scores.items()}
    if evaluation.router_accuracy is not None:
        metrics[f"{prefix}router_accuracy"] = evaluation.router_accuracy
    metrics |= {
        f"{prefix}router_accuracy.{t}": s.routed_right
        for t, s in evaluation.scores.items()
        if s.routed_right is not None
    }
    metrics |= {
        f"{prefix}low_confidence.{t}": s.low_confidence
        for t, s in evaluation.scores.items()
        if s.low_confidence is not None
    }
    mistakes = evaluation.router_mistakes()
    if evaluation.router_accuracy is not None:
        metrics[f"{prefix}router_mistakes"] = len(mistakes["question_id"])
    mlflow.log_metrics(metrics, step=step)
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        for task, result in evaluation.scores.items():
            write_predictions(result.predictions, folder / f"{task}.jsonl")
            mlflow.log_table(pd.DataFrame(result.table()), f"{prefix}predictions/{task}.json")
            mlflow.log_dict(result.report, f"{prefix}scores/step-{step}/{task}.json")
        mlflow.log_artifacts(str(folder), f"{prefix}predictions/step-{step}")
        routed = evaluation.confusion()
        if routed:
            png = confusion_png(routed, list(routed), folder / "router_confusion.png", "routing")
            mlflow.log_artifact(str(png), f"{prefix}routing/step-{step}")
            if mistakes["question_id"]:
                mlflow.log_table(pd.DataFrame(mistakes), f"{prefix}routing/mistakes.json")
