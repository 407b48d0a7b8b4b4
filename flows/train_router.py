"""Retrain the router: on the cumulative replay of every task seen so far, prompt listing the
current expert pool; reuse the registered router when nothing it depends on changed; score its
routing on every seen task's test split (accuracy per task and a confusion matrix) and register
it, tagged with the expert versions it routes to."""

from __future__ import annotations

import hashlib
import json
import tempfile
from pathlib import Path

from prefect import flow, task

import mlflow
from components.data.build import read_manifest
from components.evaluation.plots import confusion_png
from components.models.adapters import train_adapter
from components.models.config import ROUTER_PRESETS
from components.models.experts import config_digest
from components.models.inference import TwoStage
from components.models.routing import evaluate_router, replay_digest, replay_samples, seen_spec
from components.registry.adapters import AdapterRecord, record, reuse
from components.registry.models import MlflowLossCallback, router_model_name, tracked_run
from components.registry.tracking import benchmark_experiment, configure_tracking
from components.settings import get_settings
from flows.base import ensure_base
from flows.train_expert import train_experts


@task(name="train-router")
def train_router_task(
    benchmark: str, tasks: list[str], experts: list[AdapterRecord], base, parent_run_id: str | None
) -> AdapterRecord:
    settings = get_settings()
    configure_tracking(settings)
    manifest = read_manifest(settings.data_dir / benchmark)
    spec = seen_spec(manifest, tasks, settings.router_template)
    adapter = ROUTER_PRESETS[settings.router_preset]
    pool = ",".join(f"{e.name.rsplit('-', 1)[-1]}:{e.version}" for e in experts)
    key = hashlib.sha256(
        json.dumps(
            [
                benchmark,
                spec.model_dump(),
                replay_digest(manifest, tasks),
                base.digest,
                config_digest(adapter),
            ]
        ).encode()
    ).hexdigest()[:16]
    registered = router_model_name(benchmark)
    folder = settings.models_dir / benchmark / "router" / key
    known = reuse(registered, key, folder)
    if known is not None:
        return known
    with tracked_run(
        benchmark_experiment(benchmark),
        "router",
        "router",
        settings,
        parent_run_id,
        tags={"experts": pool},
    ):
        run = train_adapter(
            base.name_or_path,
            replay_samples(settings.data_dir, benchmark, spec),
            adapter,
            folder,
            callbacks=[MlflowLossCallback()],
            dtype=settings.dtype,
            device=settings.device,
        )
        bundle = TwoStage(
            base.name_or_path,
            folder,
            {},
            spec,
            settings.router_decoding,
            settings.dtype,
            settings.device,
        )
        evaluation = evaluate_router(bundle, settings.data_dir, benchmark, spec)
        with tempfile.TemporaryDirectory() as scratch:
            png = confusion_png(
                evaluation.confusion,
                tasks,
                Path(scratch) / "router_confusion.png",
                f"router ({settings.router_decoding})",
            )
            mlflow.log_artifact(str(png))
        mlflow.log_dict(spec.model_dump(), "router_spec.json")
        return record(
            registered,
            key,
            run,
            params={
                "preset": settings.router_preset,
                "adapter": adapter.model_dump(mode="json"),
                "experts": pool,
                "decoding": settings.router_decoding,
                "base_digest": base.digest,
            },
            metrics={
                "router_accuracy": evaluation.accuracy,
                **{f"router_accuracy.{t}": a for t, a in evaluation.per_task.items()},
            },
            tags={"experts": pool, "tasks": ",".join(tasks), "base_digest": base.digest},
            description=f"MR-LoRA router over {len(tasks)} experts: {pool}",
        )


@flow(name="train-router")
def train_router(
    benchmark: str, tasks: list[str] | None = None, parent_run_id: str | None = None
) -> AdapterRecord:
    settings = get_settings()
    manifest = read_manifest(settings.data_dir / benchmark)
    if manifest is None:
        raise ValueError(f"benchmark {benchmark!r} is not prepared: run prepare first")
    names = tasks or [t.spec.name for t in manifest.tasks]
    experts = train_experts(benchmark, names, parent_run_id)
    return train_router_task(benchmark, names, experts, ensure_base(), parent_run_id)
