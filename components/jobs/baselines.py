"""Jobs for the comparison rows: one step of LoRA-FT (with or without replay) trained and
evaluated on every task, the Zero-shot row (the base alone), and the Oracle row (each expert's
score on its own test split, recorded by its expert job)."""

from __future__ import annotations

import hashlib
from pathlib import Path

from pydantic import BaseModel

from components.evaluation.routed import Evaluation
from components.jobs.experts import ORACLE_METRIC
from components.jobs.job import BenchmarkJob
from components.models.base import BaseRef
from components.models.baselines import lora_ft_step
from components.models.experts import config_digest, evaluate_adapter, expert_settings
from components.registry.adapters import AdapterRecord
from components.registry.evaluations import log_evaluation
from components.registry.models import log_training, logged_metric
from components.registry.tracker import Tracker
from components.registry.tracking import configure_tracking
from components.settings import Settings

ADAPTER_ARTIFACT = "adapter"


class BaselineStep(BaseModel):
    key: str  # this step's chain key: the previous step's, this task's data, the settings
    folder: Path
    accuracies: dict[str, float]  # A[step][j] for every task j


def method_name(replay: bool) -> str:
    return "lora-ft-replay" if replay else "lora-ft"


class LoraFtStepJob(BenchmarkJob[BaselineStep]):
    """Step `step` (1-based) of LoRA-FT through `tasks`: the previous step's adapter continued on
    task `step` with the expert settings, then scored on every task."""

    tasks: list[str]
    step: int
    base: BaseRef
    replay: bool
    previous: BaselineStep | None

    @property
    def method(self) -> str:
        return method_name(self.replay)

    @property
    def title(self) -> str:
        return f"{self.method}-step-{self.step}"

    @property
    def task(self) -> str:
        return self.tasks[self.step - 1]

    def key(self) -> str:
        adapter = expert_settings(self.settings.expert_preset, self.manifest.track)
        parts = [self.previous.key if self.previous else "", self.benchmark, self.method]
        parts += [self.task, self.manifest.task(self.task).content_hash]
        parts += [self.base.digest, config_digest(adapter)]
        parts += [f"{t}:{self.manifest.task(t).files.get('test.parquet')}" for t in self.tasks]
        return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]

    def _folder(self) -> Path:
        return self.settings.models_dir / self.benchmark / self.method / self.key()

    def find(self, tracker: Tracker) -> BaselineStep | None:
        found = tracker.found(self.method, self.key(), BaselineStep)
        if found is None:
            return None
        run_id, step = found
        folder = tracker.restore_folder(run_id, ADAPTER_ARTIFACT, self._folder())
        return step.model_copy(update={"folder": folder})

    def work(self, tracker: Tracker) -> BaselineStep:
        settings = self.settings
        adapter = expert_settings(settings.expert_preset, self.manifest.track)
        tags = {"task": self.task, "step": str(self.step)}
        with tracker.run(self.title, self.method, self.key(), tags=tags):
            run = lora_ft_step(
                settings.data_dir,
                self.benchmark,
                self.tasks,
                self.step,
                self.base,
                adapter,
                self._folder(),
                self.previous.folder if self.previous else None,
                self.replay,
                callbacks=[tracker.loss_callback()],
                dtype=settings.dtype,
                device=settings.device,
            )
            log_training(
                run,
                {
                    "task": self.task,
                    "step": self.step,
                    "method": self.method,
                    "adapter": adapter.model_dump(mode="json"),
                },
            )
            tracker.keep_folder(run.folder, ADAPTER_ARTIFACT)
            evaluation = evaluate_adapter(
                settings.data_dir,
                self.manifest,
                self.tasks,
                self.base,
                run.folder,
                self.title,
                settings.dtype,
                settings.device,
            )
            log_evaluation(evaluation, self.step)
            result = BaselineStep(
                key=self.key(), folder=run.folder, accuracies=evaluation.accuracies()
            )
            tracker.keep(result)
        return result


class ZeroShotJob(BenchmarkJob[Evaluation]):
    """The base alone on every task's test split."""

    tasks: list[str]
    base: BaseRef

    @property
    def title(self) -> str:
        return "zero-shot"

    def key(self) -> str:
        parts = [self.benchmark, self.base.digest]
        parts += [f"{t}:{self.manifest.task(t).files.get('test.parquet')}" for t in self.tasks]
        return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]

    def find(self, tracker: Tracker) -> Evaluation | None:
        found = tracker.found("zero-shot", self.key(), Evaluation)
        return None if found is None else found[1]

    def work(self, tracker: Tracker) -> Evaluation:
        settings = self.settings
        with tracker.run(self.title, "zero-shot", self.key()):
            evaluation = evaluate_adapter(
                settings.data_dir,
                self.manifest,
                self.tasks,
                self.base,
                None,
                "zero-shot",
                settings.dtype,
                settings.device,
            )
            log_evaluation(evaluation, 0)
            tracker.keep(evaluation)
        return evaluation


def oracle_accuracies(settings: Settings, experts: list[AdapterRecord]) -> dict[str, float]:
    """Each expert on its own test split, as its expert job scored and logged it."""
    configure_tracking(settings)
    return {e.task: logged_metric(e.run_id or "", ORACLE_METRIC) for e in experts}
