"""The router job: the registered router of its kind for this expert pool, replay, base and
settings, or one made from the cumulative replay of every seen task (the MLLM router trained on
it, the prototype router built from it) and registered with the expert versions it routes to.
How well it routes is measured where the bundle is evaluated, which routes every test item
anyway."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from components.jobs.job import BenchmarkJob, digest
from components.models.lora.adapters import AdapterRun, adapter_folder
from components.models.lora.settings import ROUTER_PRESETS, RouterAdapterSettings, seeded
from components.models.mrlora.experts import config_digest
from components.models.mrlora.prototypes import HEAD_WEIGHT_DECAY, build_prototype_router
from components.models.mrlora.replay import (
    replay_by_task,
    replay_samples,
    router_key,
    seen_spec,
)
from components.models.mrlora.router_depth import train_router
from components.models.mrlora.settings import RouterKind
from components.models.mrlora.spec import RouterSpec, save_spec
from components.registry.adapters import AdapterRecord, record, reuse
from components.registry.models import router_description, router_model_name
from components.registry.tracker import Tracker


def expert_pool(experts: list[AdapterRecord]) -> str:
    """`RS:3,Med:1`: each expert's task and registered version."""
    return ",".join(f"{e.task}:{e.version}" for e in experts)


# What a prototype router is made with: its features and head (components/models/mrlora/
# prototypes.py); a change there is a new version of this recipe.
PROTOTYPE_RECIPE = {"features": "image-state-mean+question-embedding-mean", "head": 1}


def router_prefix(kind: RouterKind) -> str:
    """How a kind's runs are named: `router-step-N`, `prototype-router-step-N`."""
    return "router" if kind == "mllm" else f"{kind}-router"


class RouterJob(BenchmarkJob[AdapterRecord]):
    experts: list[AdapterRecord]  # the pool, in arrival order
    kind: RouterKind = "mllm"

    @property
    def title(self) -> str:
        return f"{router_prefix(self.kind)}-step-{len(self.experts)} ({self.tasks[-1]})"

    @property
    def tasks(self) -> list[str]:
        return [e.task for e in self.experts]

    @property
    def spec(self) -> RouterSpec:
        return seen_spec(self.manifest, self.tasks, self.settings.router_template)

    @property
    def adapter(self) -> RouterAdapterSettings:
        return seeded(ROUTER_PRESETS[self.settings.router_preset], self.settings.train_seed)

    def key(self) -> str:
        if self.kind == "mllm":
            config = config_digest(self.adapter)
        else:
            recipe = {**PROTOTYPE_RECIPE, "weight_decay": HEAD_WEIGHT_DECAY, "kind": self.kind}
            config = digest([recipe])
        return router_key(self.benchmark, self.manifest, self.spec, self.base.digest, config)

    def _folder(self) -> Path:
        return adapter_folder(self.settings.models_dir, self.benchmark, self.key())

    def find(self, tracker: Tracker) -> AdapterRecord | None:
        return reuse(router_model_name(self.benchmark, self.kind), self.key(), self._folder())

    def work(self, tracker: Tracker) -> AdapterRecord:
        pool = expert_pool(self.experts)
        tags = {
            "experts": pool,
            "step": str(len(self.experts)),
            "task": self.tasks[-1],
            "router_kind": self.kind,
        }
        about = {
            "mllm": f"MR-LoRA router over the experts {pool}: a LoRA trained on the replay "
            f"samples of {', '.join(self.tasks)} to answer the letter of each sample's expert.",
            "prototype": f"Prototype router over the experts {pool}: the base's features of the "
            f"replay samples of {', '.join(self.tasks)}, each task's prototype and a softmax head "
            "fitted on them (no training of the model).",
        }[self.kind]
        with tracker.run(self.title, "router", self.key(), about, tags=tags):
            self.log_data(tracker, [(task, "router") for task in self.tasks], "training")
            run, params = self._make(tracker)
            save_spec(self.spec, run.folder)  # the folder (and its registered copy) names its pool
            tracker.log_dict(self.spec.model_dump(), "router_spec.json")
            return record(
                router_model_name(self.benchmark, self.kind),
                self.key(),
                run,
                params={
                    "router_kind": self.kind,
                    **params,
                    "experts": pool,
                    "base": self.base.label,
                    "base_digest": self.base.digest,
                },
                metrics={},
                tags={
                    "experts": pool,
                    "tasks": ",".join(self.tasks),
                    "step": str(len(self.experts)),
                    "router_kind": self.kind,
                    "base_digest": self.base.digest,
                },
                description=f"MR-LoRA {self.kind} router over {len(self.experts)} experts: {pool}",
                model_description=router_description(self.benchmark, self.kind),
            )

    def _make(self, tracker: Tracker) -> tuple[AdapterRun, dict[str, Any]]:
        """The router trained (MLLM) or built (prototype), and the params that say how."""
        settings = self.settings
        if self.kind == "prototype":
            run = build_prototype_router(
                self.base.name_or_path,
                replay_by_task(settings.data_dir, self.benchmark, self.spec),
                self._folder(),
                settings.dtype,
                settings.device,
            )
            return run, {"recipe": PROTOTYPE_RECIPE, "weight_decay": HEAD_WEIGHT_DECAY}
        run = train_router(
            self.base.name_or_path,
            replay_samples(settings.data_dir, self.benchmark, self.spec),
            self.adapter,
            self._folder(),
            callbacks=[tracker.loss_callback()],
            dtype=settings.dtype,
            device=settings.device,
        )
        params = {
            "preset": settings.router_preset,
            "adapter": self.adapter.model_dump(mode="json"),
            "decoding": settings.router_decoding,
        }
        return run, params
