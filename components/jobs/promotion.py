"""The promotion job: gate the evaluated bundle against the current champion, register it as a
new `mllmcl-<benchmark>-bundle` version (pyfunc) carrying its figures and gate verdicts, and
move the aliases. A bundle already registered with the same parts is not registered again."""

from __future__ import annotations

import hashlib

from pydantic import BaseModel

from components.evaluation.routed import Evaluation
from components.jobs.job import BenchmarkJob
from components.jobs.router import expert_pool
from components.models.base.loading import TINY
from components.models.mrlora.prototypes import router_kind
from components.models.mrlora.replay import seen_spec
from components.models.scoring import evaluate_adapter
from components.registry.adapters import KEY_TAG, AdapterRecord
from components.registry.bundle import ROUTER_KIND_TAG, ROUTER_VERSION_TAG, BundleParts
from components.registry.bundle_model import register_bundle
from components.registry.gates import GateResult, learned_accuracies, run_gates
from components.registry.models import bundle_model_name, find_version
from components.registry.promotion import (
    ACCURACY_TAG,
    CHAMPION,
    GATE_RECORD,
    LEGACY_LEARNED_TAG,
    VERDICT_TAG,
    GateRecord,
    aliased,
    decide,
    gate_record,
    gates_summary,
    gates_table,
    log_gate_record,
    tagged_figures,
    version_tags,
)
from components.registry.tracker import Tracker


class Promotion(BaseModel):
    name: str
    version: str
    verdict: str  # promoted | challenger (or a reviewer's later verdict, on a rerun)
    gates: list[GateResult]
    champion: str | None  # the champion version after this job

    def summary(self) -> str:
        """The outcome in Markdown: the version, its verdict, the champion after it, the gates."""
        champion = f"v{self.champion}" if self.champion else "none"
        return (
            f"`{self.name}` v{self.version}: {self.verdict} ({gates_summary(self.gates)}); "
            f"champion now: {champion}.\n\n{gates_table(self.gates)}"
        )


def bundle_key(router: AdapterRecord, experts: list[AdapterRecord], new_task: str | None) -> str:
    parts = [router.key, *sorted(e.key for e in experts), new_task or ""]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


def _outcome(name: str, version: str, verdict: str, gates: list[GateResult]) -> Promotion:
    champion = aliased(name, CHAMPION)
    return Promotion(
        name=name,
        version=version,
        verdict=verdict,
        gates=gates,
        champion=str(champion.version) if champion else None,
    )


def _existing(name: str, key: str, require_review: bool) -> Promotion | None:
    """The outcome for a bundle registered before (a rerun); the aliases are moved now if a
    crash came between its registration and its verdict."""
    version = find_version(name, {KEY_TAG: key})
    if version is None:
        return None
    record = gate_record(version)
    gates = record.gates if record is not None else []
    verdict = version.tags.get(VERDICT_TAG) or decide(
        name, str(version.version), gates, require_review
    )
    return _outcome(name, str(version.version), verdict, gates)


class PromotionJob(BenchmarkJob[Promotion]):
    new_task: str | None  # None for a scheduled retrain
    evaluation: Evaluation
    router: AdapterRecord
    experts: list[AdapterRecord]  # the seen tasks', in arrival order

    @property
    def title(self) -> str:
        return f"bundle-step-{len(self.experts)}" + (f" ({self.new_task})" if self.new_task else "")

    @property
    def name(self) -> str:
        return bundle_model_name(self.benchmark)

    def key(self) -> str:
        return bundle_key(self.router, self.experts, self.new_task)

    def find(self, tracker: Tracker) -> Promotion | None:
        return _existing(self.name, self.key(), self.settings.gates.require_review)

    def _zero_shot(self, task: str) -> float:
        """What the base alone scores on a task: the floor the new-task gain gate measures from."""
        evaluation = evaluate_adapter(
            self.settings.data_dir,
            self.manifest,
            [task],
            self.base,
            None,
            "zero-shot",
            self.settings.dtype,
            self.settings.device,
        )
        return evaluation.scores[task].accuracy

    def work(self, tracker: Tracker) -> Promotion:
        settings, evaluation, new_task = self.settings, self.evaluation, self.new_task
        seen = [e.task for e in self.experts]
        champion = aliased(self.name, CHAMPION)
        champion_record = gate_record(champion)
        if champion_record is not None:
            learned_before = champion_record.learned
        else:  # a champion registered before gate records kept these as tags
            learned_before = tagged_figures(champion, LEGACY_LEARNED_TAG)
        accuracies = {task: evaluation.scores[task].accuracy for task in seen}
        zero_shot = None if new_task is None else self._zero_shot(new_task)
        gates = run_gates(
            accuracies,
            evaluation.router_accuracy or 0.0,
            new_task,
            tagged_figures(champion, ACCURACY_TAG),
            learned_before,
            settings.gates,
            zero_shot,
        )
        parts = BundleParts(
            base=self.base,
            router=self.router.folder,
            router_version=self.router.version,
            experts={e.task: e.folder for e in self.experts},
            expert_versions={e.task: e.version for e in self.experts},
            spec=seen_spec(self.manifest, seen, settings.router_template),
        )
        tags = {
            KEY_TAG: self.key(),
            ROUTER_VERSION_TAG: self.router.version,
            ROUTER_KIND_TAG: router_kind(self.router.folder),
            "experts": expert_pool(self.experts),
            "new_task": new_task or "",
            "data_version": self.data_version,
            "base_digest": self.base.digest,
            "router_accuracy": f"{evaluation.router_accuracy or 0.0:.2f}",
            **version_tags(accuracies, gates),
        }
        record = GateRecord(
            gates=gates,
            accuracies=accuracies,
            learned=learned_accuracies(accuracies, learned_before),
            router_accuracy=evaluation.router_accuracy,
            zero_shot=zero_shot,
        )
        experts = ", ".join(f"{e.task} v{e.version}" for e in self.experts)
        description = (
            f"MR-LoRA bundle over {', '.join(seen)}"
            + (f" (new task: {new_task})" if new_task else " (a scheduled retrain)")
            + f": router v{self.router.version}, experts {experts}; data version "
            f"{self.data_version[:12]}.\n\n{gates_table(gates)}\n\nThe full gate record: "
            f"`{GATE_RECORD}` in the run that registered this version."
        )
        step = {"step": str(len(self.experts)), "task": new_task or ""}
        about = f"The gates of the bundle over {', '.join(seen)}, and its registration.\n\n"
        with tracker.run(self.title, "bundle", self.key(), about + description, tags=step):
            log_gate_record(record)
            tracker.log_metrics(
                {f"gate.{g.name}": g.value for g in gates if g.value is not None}
                | {"gates_passed": float(all(g.passed for g in gates))}
                | ({} if zero_shot is None else {f"zero_shot.{new_task}": zero_shot})
            )
            version = register_bundle(
                self.benchmark, parts, settings, settings.base_model == TINY, tags, description
            )
            verdict = decide(self.name, str(version.version), gates, settings.gates.require_review)
        return _outcome(self.name, str(version.version), verdict, gates)
