"""The router job: the registered router trained for this expert pool, replay, base and settings,
or one trained on the cumulative replay of every seen task and registered with the expert
versions it routes to. How well it routes is measured where the bundle is evaluated, which
routes every test item anyway."""

from __future__ import annotations

from pathlib import Path

from components.jobs.job import BenchmarkJob
from components.models.lora.adapters import adapter_folder, train_adapter
from components.models.lora.settings import ROUTER_PRESETS, AdapterSettings, seeded
from components.models.mrlora.experts import config_digest
from components.models.mrlora.replay import replay_samples, router_key, seen_spec
from components.models.mrlora.spec import RouterSpec, save_spec
from components.registry.adapters import AdapterRecord, record, reuse
from components.registry.models import router_description, router_model_name
from components.registry.tracker import Tracker


def expert_pool(experts: list[AdapterRecord]) -> str:
    """`RS:3,Med:1`: each expert's task and registered version."""
    return ",".join(f"{e.task}:{e.version}" for e in experts)


class RouterJob(BenchmarkJob[AdapterRecord]):
    experts: list[AdapterRecord]  # the pool, in arrival order

    @property
    def title(self) -> str:
        return f"router-step-{len(self.experts)} ({self.tasks[-1]})"

    @property
    def tasks(self) -> list[str]:
        return [e.task for e in self.experts]

    @property
    def spec(self) -> RouterSpec:
        return seen_spec(self.manifest, self.tasks, self.settings.router_template)

    @property
    def adapter(self) -> AdapterSettings:
        return seeded(ROUTER_PRESETS[self.settings.router_preset], self.settings.train_seed)

    def key(self) -> str:
        config = config_digest(self.adapter)
        return router_key(self.benchmark, self.manifest, self.spec, self.base.digest, config)

    def _folder(self) -> Path:
        return adapter_folder(self.settings.models_dir, self.benchmark, self.key())

    def find(self, tracker: Tracker) -> AdapterRecord | None:
        return reuse(router_model_name(self.benchmark), self.key(), self._folder())

    def work(self, tracker: Tracker) -> AdapterRecord:
        settings, spec, pool = self.settings, self.spec, expert_pool(self.experts)
        tags = {"experts": pool, "step": str(len(self.experts)), "task": self.tasks[-1]}
        about = (
            f"MR-LoRA router over the experts {pool}: a LoRA trained on the replay samples of "
            f"{', '.join(self.tasks)} to answer the letter of each sample's expert."
        )
        with tracker.run(self.title, "router", self.key(), about, tags=tags):
            self.log_data(tracker, [(task, "router") for task in self.tasks], "training")
            run = train_adapter(
                self.base.name_or_path,
                replay_samples(settings.data_dir, self.benchmark, spec),
                self.adapter,
                self._folder(),
                callbacks=[tracker.loss_callback()],
                dtype=settings.dtype,
                device=settings.device,
            )
            save_spec(
                spec, run.folder
            )  # the adapter folder (and its registered copy) names its pool
            tracker.log_dict(spec.model_dump(), "router_spec.json")
            return record(
                router_model_name(self.benchmark),
                self.key(),
                run,
                params={
                    "preset": settings.router_preset,
                    "adapter": self.adapter.model_dump(mode="json"),
                    "experts": pool,
                    "decoding": settings.router_decoding,
                    "base": self.base.label,
                    "base_digest": self.base.digest,
                },
                metrics={},
                tags={
                    "experts": pool,
                    "tasks": ",".join(self.tasks),
                    "step": str(len(self.experts)),
                    "base_digest": self.base.digest,
                },
                description=f"MR-LoRA router over {len(self.experts)} experts: {pool}",
                model_description=router_description(self.benchmark),
            )
