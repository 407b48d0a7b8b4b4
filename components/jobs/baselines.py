"""Jobs for the comparison rows: one step of LoRA-FT (with or without replay) trained and
evaluated on every task, the Zero-shot row (the base alone), and the Oracle row (each expert's
score on its own test split, recorded by its expert job)."""

from __future__ import annotations

import hashlib
from pathlib import Path

from mlflow import MlflowClient
from pydantic import BaseModel

from components.data.build import read_manifest
from components.models.base import BaseRef
from components.models.baselines import lora_ft_step
from components.models.experts import config_digest, evaluate_adapter, expert_settings
from components.registry.adapters import AdapterRecord
from components.registry.evaluations import log_evaluation
from components.registry.models import MlflowLossCallback, log_training, tracked_run
from components.registry.tracking import benchmark_experiment, configure_tracking
from components.settings import Settings


class BaselineStep(BaseModel):
    key: str  # this step's chain key: the previous step's, this task's data, the settings
    folder: Path
    accuracies: dict[str, float]  # A[step][j] for every task j


def method_name(replay: bool) -> str:
    return "lora-ft-replay" if replay else "lora-ft"


def lora_ft_step_key(
    settings: Settings, benchmark: str, task: str, base: BaseRef, replay: bool, previous: str
) -> str:
    manifest = read_manifest(settings.data_dir / benchmark)
    adapter = expert_settings(settings.expert_preset, manifest.track)
    parts = [previous, benchmark, method_name(replay), task, manifest.task(task).content_hash]
    parts += [base.digest, config_digest(adapter)]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


def run_lora_ft_step_job(
    settings: Settings,
    benchmark: str,
    tasks: list[str],
    step: int,
    base: BaseRef,
    replay: bool,
    previous: BaselineStep | None,
    parent_run_id: str | None = None,
) -> BaselineStep:
    """Continue the previous step's adapter on task `step` (1-based), with the expert settings,
    then score it on every task. A step already trained on this machine is reused."""
    configure_tracking(settings)
    manifest = read_manifest(settings.data_dir / benchmark)
    adapter = expert_settings(settings.expert_preset, manifest.track)
    method = method_name(replay)
    task = tasks[step - 1]
    key = lora_ft_step_key(
        settings, benchmark, task, base, replay, previous.key if previous else ""
    )
    folder = settings.models_dir / benchmark / method / key
    device = {"dtype": settings.dtype, "device": settings.device}
    tags = {"task": task, "step": str(step), "key": key}
    with tracked_run(
        benchmark_experiment(benchmark),
        f"{method}-step-{step}",
        method,
        settings,
        parent_run_id,
        tags=tags,
    ):
        if not (folder / "adapter_config.json").is_file():
            run = lora_ft_step(
                settings.data_dir,
                benchmark,
                tasks,
                step,
                base,
                adapter,
                folder,
                previous.folder if previous else None,
                replay,
                callbacks=[MlflowLossCallback()],
                **device,
            )
            log_training(
                run,
                {
                    "task": task,
                    "step": step,
                    "method": method,
                    "adapter": adapter.model_dump(mode="json"),
                },
            )
        evaluation = evaluate_adapter(
            settings.data_dir, manifest, tasks, base, folder, f"{method}-step-{step}", **device
        )
        log_evaluation(evaluation, step)
    return BaselineStep(key=key, folder=folder, accuracies=evaluation.accuracies())


def run_zero_shot_job(
    settings: Settings,
    benchmark: str,
    tasks: list[str],
    base: BaseRef,
    parent_run_id: str | None = None,
) -> dict[str, float]:
    configure_tracking(settings)
    manifest = read_manifest(settings.data_dir / benchmark)
    with tracked_run(
        benchmark_experiment(benchmark), "zero-shot", "zero-shot", settings, parent_run_id
    ):
        evaluation = evaluate_adapter(
            settings.data_dir,
            manifest,
            tasks,
            base,
            None,
            "zero-shot",
            settings.dtype,
            settings.device,
        )
        log_evaluation(evaluation, 0)
    return evaluation.accuracies()


def oracle_accuracies(settings: Settings, experts: list[AdapterRecord]) -> dict[str, float]:
    """Each expert on its own test split, as its expert job scored and logged it."""
    configure_tracking(settings)
    client = MlflowClient()
    return {e.task: client.get_run(e.run_id).data.metrics["test_accuracy"] for e in experts}
