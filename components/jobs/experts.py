"""The expert job: the registered expert whose task data, base and settings match, or a LoRA
trained from the base on the task's data alone, scored on its own test split (its Oracle figure)
and registered."""

from __future__ import annotations

from pathlib import Path

from components.data.build import TaskEntry
from components.data.versioning import data_version
from components.jobs.job import BenchmarkJob
from components.models.lora.adapters import adapter_folder
from components.models.lora.settings import AdapterSettings
from components.models.mrlora.experts import expert_key, expert_settings, train_expert
from components.models.scoring import evaluate_adapter
from components.registry.adapters import AdapterRecord, record, reuse
from components.registry.models import expert_model_name
from components.registry.tracker import Tracker

ORACLE_METRIC = "test_accuracy"


class ExpertJob(BenchmarkJob[AdapterRecord]):
    task: str

    @property
    def title(self) -> str:
        return f"expert-{self.task}"

    @property
    def entry(self) -> TaskEntry:
        return self.manifest.task(self.task)

    @property
    def adapter(self) -> AdapterSettings:
        return expert_settings(self.settings.expert_preset, self.manifest.track)

    @property
    def name(self) -> str:
        return expert_model_name(self.benchmark, self.task)

    def key(self) -> str:
        return expert_key(self.benchmark, self.entry, self.base, self.adapter).digest()

    def _folder(self) -> Path:
        return adapter_folder(self.settings.models_dir, self.benchmark, self.key(), self.task)

    def find(self, tracker: Tracker) -> AdapterRecord | None:
        return reuse(self.name, self.key(), self._folder(), self.task)

    def work(self, tracker: Tracker) -> AdapterRecord:
        settings, entry = self.settings, self.entry
        with tracker.run(self.title, "expert", self.key(), tags={"task": self.task}):
            run = train_expert(
                settings.data_dir,
                self.benchmark,
                self.task,
                self.base,
                self.adapter,
                self._folder(),
                callbacks=[tracker.loss_callback()],
                dtype=settings.dtype,
                device=settings.device,
            )
            oracle = evaluate_adapter(
                settings.data_dir,
                self.manifest,
                [self.task],
                self.base,
                run.folder,
                self.name,
                settings.dtype,
                settings.device,
            ).scores[self.task]
            return record(
                self.name,
                self.key(),
                run,
                params={
                    "task": self.task,
                    "preset": settings.expert_preset,
                    "adapter": self.adapter.model_dump(mode="json"),
                    "base": self.base.name_or_path,
                    "base_digest": self.base.digest,
                    "task_data_version": entry.content_hash,
                    "data_version": data_version(settings.dvc_file) or "unversioned",
                },
                metrics={ORACLE_METRIC: oracle.accuracy},
                tags={
                    "task": self.task,
                    "data_version": entry.content_hash,
                    "base_digest": self.base.digest,
                },
                description=f"MR-LoRA expert for {self.task}: {entry.spec.description}",
                task=self.task,
            )
