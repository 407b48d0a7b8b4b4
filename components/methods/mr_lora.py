"""MR-LoRA (the MLLM-CL paper's method): one LoRA expert per task, trained from the base on that
task's data alone and never touched again, and a router that picks the expert for each input
(the paper's: the base with its own LoRA, retrained on the replay of every task seen; or the
training-free prototype router, by the `router_kind` setting). A step trains the new task's
expert (the others are found in the registry), remakes the router over the pool, evaluates the
routed bundle, and gates and promotes it (docs/method.md). To compare the kinds, a step also
routes the same experts with the other kind and evaluates that bundle too."""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel

from components.evaluation.costs import StepCost
from components.evaluation.routed import Evaluation
from components.evaluation.routers import RouterKindResult, router_kind_result
from components.jobs.evaluation import EvaluationJob
from components.jobs.experts import ExpertJob
from components.jobs.promotion import Promotion, PromotionJob
from components.jobs.router import RouterJob
from components.methods.method import Method, Runner, StepContext
from components.models.mrlora.settings import ROUTER_KINDS, RouterKind
from components.registry.adapters import AdapterRecord
from components.timing import stage


class Routing(BaseModel):
    """The step's experts routed by a router of one kind, and that bundle's evaluation."""

    kind: RouterKind
    router: AdapterRecord
    evaluation: Evaluation


class LearnedStep(BaseModel):
    experts: list[AdapterRecord]
    routings: list[Routing]  # by every router kind made, the configured one (gated) first
    promotion: Promotion | None  # None: a comparison run, nothing promoted

    @property
    def router(self) -> AdapterRecord:
        return self.routings[0].router

    @property
    def evaluation(self) -> Evaluation:
        return self.routings[0].evaluation

    def accuracies(self) -> dict[str, float]:
        return self.evaluation.accuracies()

    def question_kinds(self) -> dict[str, dict[str, float]]:
        return self.evaluation.question_kinds()

    def promoted(self) -> Promotion:
        """The gates' verdict on a task arrival's bundle."""
        if self.promotion is None:
            raise ValueError("this step was a comparison run: nothing was gated or promoted")
        return self.promotion

    def cost(self) -> StepCost | None:
        """The step trains its task's expert (the last seen) and the router, and keeps every
        expert and the router."""
        expert, router = self.experts[-1].cost, self.router.cost
        kept = [e.cost for e in self.experts if e.cost is not None]
        if expert is None or router is None or len(kept) < len(self.experts):
            return None
        return StepCost(
            train_seconds=expert.seconds + router.seconds,
            trainable_parameters=expert.trainable_parameters + router.trainable_parameters,
            stored_bytes=sum(c.stored_bytes for c in kept) + router.stored_bytes,
            seconds_per_item=self.evaluation.seconds_per_item,
        )


class MrLora(Method[LearnedStep]):
    name = "mr-lora"
    summary = "a LoRA expert per task and an MLLM router that picks one"

    def learn(
        self, runner: Runner, context: StepContext, previous: LearnedStep | None
    ) -> LearnedStep:
        c = context
        step = f"{c.new_task or 'retrain'} (step {c.step})"
        with stage(f"{step}: experts"):
            experts = runner.run_all([ExpertJob(scope=c.scope, task=task) for task in c.seen])
        configured = c.scope.settings.router_kind
        kinds = [configured, *(k for k in ROUTER_KINDS if k != configured and c.compare_routers)]
        with stage(f"{step}: router"):
            routers = runner.run_all(
                [RouterJob(scope=c.scope, experts=experts, kind=kind) for kind in kinds]
            )
        with stage(f"{step}: evaluation"):
            evaluations = runner.run_all(
                [
                    EvaluationJob(
                        scope=c.scope, router=router, experts=experts, evaluate_on=c.evaluate_on
                    )
                    for router in routers
                ]
            )
        router, evaluation = routers[0], evaluations[0]
        promotion = None
        if c.promote:
            with stage(f"{step}: gates and promotion"):
                promotion = runner.run(
                    PromotionJob(
                        scope=c.scope,
                        new_task=c.new_task,
                        evaluation=evaluation,
                        router=router,
                        experts=experts,
                    )
                )
        return LearnedStep(
            experts=experts,
            promotion=promotion,
            routings=[
                Routing(kind=kind, router=r, evaluation=e)
                for kind, r, e in zip(kinds, routers, evaluations, strict=True)
            ],
        )

    def router_accuracy(self, outcome: LearnedStep) -> float | None:
        return outcome.evaluation.router_accuracy


def router_kinds(steps: Sequence[LearnedStep]) -> list[RouterKindResult]:
    """Each router kind the steps were routed with (the configured one first), side by side."""
    if not steps:
        return []
    kinds = [routing.kind for routing in steps[-1].routings]
    results = []
    for i, kind in enumerate(kinds):
        routings = [next(r for r in step.routings if r.kind == kind) for step in steps]
        results.append(
            router_kind_result(
                kind,
                i == 0,
                [r.evaluation for r in routings],
                [None if r.router.cost is None else r.router.cost.seconds for r in routings],
            )
        )
    return results
