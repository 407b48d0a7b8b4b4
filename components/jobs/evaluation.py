"""The evaluation job: the routed bundle (router + the seen tasks' experts) answers every test item
of the tasks to evaluate, each task scored by its official scorer; the routing of the seen tasks'
items is the router's accuracy, tagged on its registered version too."""

from __future__ import annotations

from components.evaluation.routed import Evaluation, evaluate_bundle
from components.jobs.job import BenchmarkJob, digest
from components.models.mrlora.prototypes import router_kind
from components.models.mrlora.replay import seen_spec
from components.models.mrlora.settings import RouterKind
from components.models.mrlora.two_stage import TwoStage
from components.registry.adapters import AdapterRecord
from components.registry.evaluations import log_evaluation
from components.registry.models import tag_version
from components.registry.tracker import Tracker


class EvaluationJob(BenchmarkJob[Evaluation]):
    router: AdapterRecord
    experts: list[AdapterRecord]  # the seen tasks', in arrival order
    evaluate_on: list[str]

    @property
    def step(self) -> int:
        return len(self.experts)

    @property
    def router_kind(self) -> RouterKind:
        return router_kind(self.router.folder)

    @property
    def title(self) -> str:
        by = "" if self.router_kind == "mllm" else f", {self.router_kind} router"
        return f"evaluate-step-{self.step} ({self.seen[-1]}{by})"

    @property
    def seen(self) -> list[str]:
        return [e.task for e in self.experts]

    def key(self) -> str:
        """The router and experts (their keys hold data, base and settings), the test data."""
        settings = self.settings
        kind = self.router_kind
        floor = settings.confidence_floor(kind)
        # the prototype router has no decoding to choose, nor a random pick to seed
        decoding = [settings.router_decoding, settings.seed, floor] if kind == "mllm" else [floor]
        experts = [e.key for e in self.experts]
        return digest([self.router.key, experts, self.test_data(self.evaluate_on), decoding])

    def find(self, tracker: Tracker) -> Evaluation | None:
        found = tracker.found("evaluation", self.key(), Evaluation)
        return None if found is None else found[1]

    def work(self, tracker: Tracker) -> Evaluation:
        settings = self.settings
        bundle = TwoStage(
            self.base.name_or_path,
            self.router.folder,
            {e.task: e.folder for e in self.experts},
            seen_spec(self.manifest, self.seen, settings.router_template),
            settings.router_decoding,
            settings.dtype,
            settings.device,
            settings.seed,
        )
        tags = {
            "step": str(self.step),
            "task": self.seen[-1],
            "seen": ",".join(self.seen),
            "router_version": self.router.version,
            "router_kind": self.router_kind,
        }
        about = (
            f"The routed bundle ({self.router_kind} router v{self.router.version}, experts "
            f"{', '.join(f'{e.task} v{e.version}' for e in self.experts)}) answers every test "
            f"item of {', '.join(self.evaluate_on)}; each answer, its gold answer and the expert "
            "it was routed to are in `predictions/<task>.json`."
        )
        with tracker.run(self.title, "evaluation", self.key(), about, tags=tags):
            self.log_tests(tracker, self.evaluate_on)
            evaluation = evaluate_bundle(
                bundle,
                settings.data_dir,
                self.manifest,
                self.evaluate_on,
                f"mr-lora-{self.benchmark}-step-{self.step}",
                settings.confidence_floor(self.router_kind),
            )
            log_evaluation(evaluation, self.step)
            tracker.keep(evaluation)
        if evaluation.router_accuracy is not None:
            accuracy = f"{evaluation.router_accuracy:.2f}"
            tag_version(self.router.name, self.router.version, {"router_accuracy": accuracy})
        return evaluation
