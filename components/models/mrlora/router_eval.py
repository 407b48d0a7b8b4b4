"""How well a router routes on its own: accuracy per task and the confusion matrix over the
pool's test splits (the pipeline measures it in the bundle's evaluation instead)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from pydantic import BaseModel

from components.data.build import load_split
from components.models.mrlora.spec import RouterSpec
from components.models.mrlora.two_stage import TwoStage
from components.models.samples import evaluation_samples


class RouterEvaluation(BaseModel):
    accuracy: float  # percent of test items routed to their own task's expert
    per_task: dict[str, float]
    confusion: dict[str, dict[str, int]]  # gold task -> routed task -> count
    outputs: list[str]


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
