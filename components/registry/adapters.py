"""Registered adapters (experts, and routers of either kind): finding a reusable one by its key,
recording a new one, and getting its files back."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import mlflow
from mlflow import MlflowClient
from mlflow.entities.model_registry import ModelVersion
from pydantic import BaseModel

from components.models.lora.adapters import AdapterRun, TrainingCost
from components.models.mrlora.prototypes import is_prototype_router
from components.registry.model_card import model_card
from components.registry.models import download_version, find_version, log_training, register_folder

KEY_TAG = "key"


class AdapterRecord(BaseModel):
    """A registered adapter and where its files are on this machine."""

    name: str
    version: str
    folder: Path
    key: str
    reused: bool
    run_id: str | None = None
    task: str = ""  # an expert's task
    cost: TrainingCost | None = None  # None: its run did not log the figures


def reuse(name: str, key: str, folder: Path, task: str = "") -> AdapterRecord | None:
    """The registered version with this key, its files downloaded if this machine lacks them."""
    version = find_version(name, {KEY_TAG: key})
    if version is None:
        return None
    if not on_disk(folder):
        folder = download_version(version, folder)
    return AdapterRecord(
        name=name,
        version=str(version.version),
        folder=folder,
        key=key,
        reused=True,
        run_id=version.run_id,
        task=task,
        cost=logged_cost(version.run_id),
    )


def on_disk(folder: Path) -> bool:
    """Whether `folder` holds an adapter, or a prototype router."""
    return (folder / "adapter_config.json").is_file() or is_prototype_router(folder)


def logged_cost(run_id: str | None) -> TrainingCost | None:
    """The training figures `log_training` logged into the run."""
    if run_id is None:
        return None
    metrics = MlflowClient().get_run(run_id).data.metrics
    names = ("train_seconds", "trainable_parameters", "adapter_bytes")
    if not all(name in metrics for name in names):
        return None
    return TrainingCost(
        seconds=metrics["train_seconds"],
        trainable_parameters=int(metrics["trainable_parameters"]),
        stored_bytes=int(metrics["adapter_bytes"]),
    )


def record(
    name: str,
    key: str,
    run: AdapterRun,
    params: dict[str, Any],
    metrics: dict[str, float],
    tags: dict[str, str],
    description: str,
    model_description: str,
    task: str = "",
) -> AdapterRecord:
    """Log an adapter's training into the active run and register it, its model card (the
    description, params and metrics) written beside it."""
    log_training(run, params)
    mlflow.log_metrics(metrics)
    card = model_card(name, description, params, metrics)
    (run.folder / "README.md").write_text(card, encoding="utf-8")
    version: ModelVersion = register_folder(
        name, run.folder, "adapter", {KEY_TAG: key, **tags}, description, model_description
    )
    return AdapterRecord(
        name=name,
        version=str(version.version),
        folder=run.folder,
        key=key,
        reused=False,
        run_id=version.run_id,
        task=task,
        cost=run.cost(),
    )
