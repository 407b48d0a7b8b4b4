"""The router job: reuse the registered router trained for this expert pool, replay, base and
settings, or train one on the cumulative replay, score its routing on every seen task's test
split (accuracy per task, confusion matrix PNG) and register it with the expert versions it
routes to."""

from __future__ import annotations

import tempfile
from pathlib import Path

import mlflow

from components.data.build import read_manifest
from components.evaluation.plots import confusion_png
from components.models.adapters import adapter_folder, train_adapter
from components.models.base import BaseRef
from components.models.config import ROUTER_PRESETS
from components.models.experts import config_digest
from components.models.inference import TwoStage
from components.models.router import save_spec
from components.models.routing import evaluate_router, replay_samples, router_key, seen_spec
from components.registry.adapters import AdapterRecord, record, reuse
from components.registry.models import MlflowLossCallback, router_model_name, tracked_run
from components.registry.tracking import benchmark_experiment, configure_tracking
from components.settings import Settings


def expert_pool(experts: list[AdapterRecord]) -> str:
    """`RS:3,Med:1`: each expert's task and registered version."""
    return ",".join(f"{e.task}:{e.version}" for e in experts)


def run_router_job(
    settings: Settings,
    benchmark: str,
    tasks: list[str],
    experts: list[AdapterRecord],
    base: BaseRef,
    parent_run_id: str | None = None,
) -> AdapterRecord:
    configure_tracking(settings)
    manifest = read_manifest(settings.data_dir / benchmark)
    spec = seen_spec(manifest, tasks, settings.router_template)
    adapter = ROUTER_PRESETS[settings.router_preset]
    pool = expert_pool(experts)
    key = router_key(benchmark, manifest, spec, base.digest, config_digest(adapter))
    name = router_model_name(benchmark)
    folder = adapter_folder(settings.models_dir, benchmark, key)
    known = reuse(name, key, folder)
    if known is not None:
        return known
    device = {"dtype": settings.dtype, "device": settings.device}
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
            **device,
        )
        save_spec(spec, folder)  # the adapter folder (and its registered copy) names its pool
        router = TwoStage(base.name_or_path, folder, {}, spec, settings.router_decoding, **device)
        evaluation = evaluate_router(router, settings.data_dir, benchmark, spec)
        with tempfile.TemporaryDirectory() as scratch:
            png = Path(scratch) / "router_confusion.png"
            confusion_png(evaluation.confusion, tasks, png, f"router ({settings.router_decoding})")
            mlflow.log_artifact(str(png))
        mlflow.log_dict(spec.model_dump(), "router_spec.json")
        return record(
            name,
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
