"""The reference rows of the comparison: Zero-shot (the base alone on every task) and Oracle
(each expert on its own task, as its expert job scored it)."""

from __future__ import annotations

from components.evaluation.routed import Evaluation
from components.jobs.experts import ORACLE_METRIC
from components.jobs.job import BenchmarkJob, digest
from components.models.scoring import evaluate_adapter
from components.registry.adapters import AdapterRecord
from components.registry.evaluations import log_evaluation
from components.registry.models import logged_metric
from components.registry.tracker import Tracker
from components.registry.tracking import configure_tracking
from components.settings import Settings


class ZeroShotJob(BenchmarkJob[Evaluation]):
    """The base alone on every task's test split."""

    tasks: list[str]

    @property
    def title(self) -> str:
        return "zero-shot"

    def key(self) -> str:
        parts = [self.benchmark, self.base.digest]
        return digest([*parts, *self.test_data(self.tasks)])

    def find(self, tracker: Tracker) -> Evaluation | None:
        found = tracker.found("zero-shot", self.key(), Evaluation)
        return None if found is None else found[1]

    def work(self, tracker: Tracker) -> Evaluation:
        settings = self.settings
        about = f"The base alone answers every test item of {', '.join(self.tasks)}."
        with tracker.run(self.title, "zero-shot", self.key(), about):
            self.log_tests(tracker, self.tasks)
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
