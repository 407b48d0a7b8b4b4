"""The evaluation job: load the routed bundle (router + the seen tasks' experts), answer every
test item of the tasks to evaluate with each task's official scorer, and log it all in a run."""

from __future__ import annotations

from pathlib import Path

from components.data.build import read_manifest
from components.evaluation.routed import Evaluation, evaluate_bundle
from components.models.base import BaseRef
from components.models.inference import TwoStage
from components.models.routing import seen_spec
from components.registry.adapters import AdapterRecord
from components.registry.evaluations import log_evaluation
from components.registry.models import tracked_run
from components.registry.tracking import benchmark_experiment, configure_tracking
from components.settings import Settings


def expert_folders(experts: list[AdapterRecord]) -> dict[str, Path]:
    return {e.task: e.folder for e in experts}


def run_evaluation_job(
    settings: Settings,
    benchmark: str,
    seen: list[str],
    evaluate_on: list[str],
    router: AdapterRecord,
    experts: list[AdapterRecord],
    base: BaseRef,
    step: int,
    parent_run_id: str | None = None,
) -> Evaluation:
    configure_tracking(settings)
    manifest = read_manifest(settings.data_dir / benchmark)
    spec = seen_spec(manifest, seen, settings.router_template)
    bundle = TwoStage(
        base.name_or_path,
        router.folder,
        expert_folders(experts),
        spec,
        settings.router_decoding,
        settings.dtype,
        settings.device,
        settings.seed,
    )
    tags = {"step": str(step), "seen": ",".join(seen), "router_version": router.version}
    with tracked_run(
        benchmark_experiment(benchmark),
        f"evaluate-step-{step}",
        "evaluation",
        settings,
        parent_run_id,
        tags=tags,
    ):
        evaluation = evaluate_bundle(
            bundle, settings.data_dir, manifest, evaluate_on, f"mr-lora-{benchmark}-step-{step}"
        )
        log_evaluation(evaluation, step)
    return evaluation
