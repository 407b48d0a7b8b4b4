"""Router training data and evaluation: the cumulative replay of the tasks seen so far, and the
router's accuracy per task with its confusion matrix."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from pathlib import Path

from pydantic import BaseModel

from components.data.build import Manifest, load_split
from components.models.inference import TwoStage
from components.models.router import RouterSpec, router_spec, routing_samples
from components.models.samples import evaluation_samples, training_samples


class RouterEvaluation(BaseModel):
    accuracy: float  # percent of test items routed to their own task's expert
    per_task: dict[str, float]
    confusion: dict[str, dict[str, int]]  # gold task -> routed task -> count
    outputs: list[str]


def seen_spec(manifest: Manifest, tasks: list[str], template: str) -> RouterSpec:
    return router_spec([manifest.task(name).spec for name in tasks], template)


def replay_samples(data_dir: Path, benchmark: str, spec: RouterSpec):
    replay = {
        e.task: training_samples(load_split(data_dir, benchmark, e.task, "router"))
        for e in spec.experts
    }
    return routing_samples(spec, replay)


def replay_digest(manifest: Manifest, tasks: list[str]) -> str:
    parts = [f"{name}:{manifest.task(name).files['router.parquet']}" for name in tasks]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


def router_key(
    benchmark: str, manifest: Manifest, spec: RouterSpec, base_digest: str, config: str
) -> str:
    """Everything a router depends on (pool and prompt, replay data, base, settings), hashed:
    equal keys mean the registered router can be reused."""
    parts = [benchmark, spec.model_dump(), replay_digest(manifest, [e.task for e in spec.experts])]
    payload = json.dumps([*parts, base_digest, config])
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def evaluate_router(
    router: TwoStage, data_dir: Path, benchmark: str, spec: RouterSpec
) -> RouterEvaluation:
    confusion: dict[str, Counter] = {}
    outputs: list[str] = []
    for expert in spec.experts:
        samples, _ = evaluation_samples(load_split(data_dir, benchmark, expert.task, "test"))
        routed = router.route(samples)
        confusion[expert.task] = Counter(r.task for r in routed)
        outputs += [r.router_output for r in routed]
    per_task = {
        task: 100.0 * counts[task] / max(1, sum(counts.values()))
        for task, counts in confusion.items()
    }
    total = sum(sum(c.values()) for c in confusion.values())
    right = sum(c[task] for task, c in confusion.items())
    return RouterEvaluation(
        accuracy=100.0 * right / max(1, total),
        per_task=per_task,
        confusion={task: dict(counts) for task, counts in confusion.items()},
        outputs=outputs,
    )
