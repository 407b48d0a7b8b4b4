"""The expert job: the registered expert whose task data, base and settings match, or a LoRA
trained from the base on the task's data alone (by the job, or by several Ray Train workers),
scored on its own test split (its Oracle figure) and registered."""

from __future__ import annotations

from functools import partial
from pathlib import Path

from pydantic import BaseModel
from transformers import TrainerCallback

from components.cluster.settings import Reservation
from components.cluster.train_workers import train_on_workers
from components.data.build import TaskEntry
from components.jobs.job import BenchmarkJob
from components.models.lora.adapters import AdapterRun, adapter_folder
from components.models.lora.settings import AdapterSettings
from components.models.mrlora.experts import expert_key, expert_settings, train_expert
from components.models.scoring import evaluate_adapter
from components.registry.adapters import AdapterRecord, record, reuse
from components.registry.models import expert_description, expert_model_name
from components.registry.tracker import Tracker

ORACLE_METRIC = "test_accuracy"


class TrainedExpert(BaseModel):
    run: AdapterRun
    oracle: float | None  # scored by the lead worker only


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
        settings = self.settings
        return expert_settings(settings.expert_preset, self.manifest.track, settings.train_seed)

    @property
    def name(self) -> str:
        return expert_model_name(self.benchmark, self.task)

    def key(self) -> str:
        return expert_key(self.benchmark, self.entry, self.base, self.adapter).digest()

    def _folder(self) -> Path:
        return adapter_folder(self.settings.models_dir, self.benchmark, self.key(), self.task)

    def find(self, tracker: Tracker) -> AdapterRecord | None:
        return reuse(self.name, self.key(), self._folder(), self.task)

    def reservation(self) -> Reservation:
        """On Ray Train workers the training and the scoring run on the workers, which reserve
        their own CPUs and GPUs; the job only waits for them and registers the expert."""
        if self.settings.cluster.train_workers > 1:
            return Reservation(cpus=0, gpus=0)
        return super().reservation()

    def _train_and_score(
        self, folder: Path, lead: bool, callbacks: list[TrainerCallback]
    ) -> TrainedExpert:
        settings = self.settings
        run = train_expert(
            settings.data_dir,
            self.benchmark,
            self.task,
            self.base,
            self.adapter,
            folder,
            callbacks=callbacks,
            dtype=settings.dtype,
            device=settings.device,
        )
        if not lead:
            return TrainedExpert(run=run, oracle=None)
        scores = evaluate_adapter(
            settings.data_dir,
            self.manifest,
            [self.task],
            self.base,
            folder,
            self.name,
            settings.dtype,
            settings.device,
        ).scores
        return TrainedExpert(run=run, oracle=scores[self.task].accuracy)

    def _trained(self, callbacks: list[TrainerCallback]) -> TrainedExpert:
        work = partial(self._train_and_score, callbacks=callbacks)
        cluster, folder = self.settings.cluster, self._folder()
        if cluster.train_workers == 1:
            return work(folder, True)
        trained = train_on_workers(
            work, TrainedExpert, folder, cluster, self.settings.models_dir / ".ray-train"
        )
        return trained.model_copy(update={"run": trained.run.model_copy(update={"folder": folder})})

    def work(self, tracker: Tracker) -> AdapterRecord:
        settings, entry = self.settings, self.entry
        about = (
            f"MR-LoRA expert of {self.task}: a LoRA trained from the base on {self.task}'s "
            "training split alone, then scored on its test split (its Oracle figure, "
            f"`{ORACLE_METRIC}`) and registered as `{self.name}`."
        )
        with tracker.run(self.title, "expert", self.key(), about, tags={"task": self.task}):
            self.log_data(tracker, [(self.task, "train")], "training")
            self.log_tests(tracker, [self.task])
            trained = self._trained([tracker.loss_callback()])
            run, oracle = trained.run, trained.oracle
            if oracle is None:
                raise RuntimeError(f"{self.title}: the outcome of a worker that is not the lead")
            return record(
                self.name,
                self.key(),
                run,
                params={
                    "task": self.task,
                    "preset": settings.expert_preset,
                    "adapter": self.adapter.model_dump(mode="json"),
                    "base": self.base.label,
                    "base_digest": self.base.digest,
                    "task_data_version": entry.content_hash,
                    "data_version": self.data_version,
                    "train_workers": run.workers,
                },
                metrics={ORACLE_METRIC: oracle},
                tags={
                    "task": self.task,
                    "accuracy": f"{oracle:.2f}",
                    "data_version": entry.content_hash,
                    "base_digest": self.base.digest,
                },
                description=f"MR-LoRA expert for {self.task}: {entry.spec.description}",
                model_description=expert_description(self.benchmark, self.task),
                task=self.task,
            )
