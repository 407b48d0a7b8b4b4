"""The router's training data, the cumulative replay of the tasks seen so far relabelled with
their experts' letters, and the key of everything a router depends on."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from pathlib import Path

from components.data.build import Manifest, load_split
from components.models.mrlora.spec import RouterSpec, router_spec
from components.models.prompts import Sample
from components.models.samples import training_samples


def seen_spec(manifest: Manifest, tasks: list[str], template: str) -> RouterSpec:
    return router_spec([manifest.task(name).spec for name in tasks], template)


def replay_by_task(data_dir: Path, benchmark: str, spec: RouterSpec) -> dict[str, list[Sample]]:
    """Each pooled task's replay samples, as they were asked."""
    return {
        e.task: training_samples(load_split(data_dir, benchmark, e.task, "router"))
        for e in spec.experts
    }


def replay_samples(data_dir: Path, benchmark: str, spec: RouterSpec) -> list[Sample]:
    return routing_samples(spec, replay_by_task(data_dir, benchmark, spec))


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


def routing_samples(spec: RouterSpec, replay: Mapping[str, Sequence[Sample]]) -> list[Sample]:
    """The cumulative replay of every task in the pool, relabelled with its expert's letter."""
    return [
        spec.sample(sample.image, sample.question, spec.letter_of(task))
        for task, samples in replay.items()
        for sample in samples
    ]
