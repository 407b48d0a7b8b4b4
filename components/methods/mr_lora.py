"""MR-LoRA (the MLLM-CL paper's method): one LoRA expert per task, trained from the base on that
task's data alone and never touched again, and a router (the base with its own LoRA, retrained
on the replay of every task seen) that picks the expert for each input. A step trains the new
task's expert (the others are found in the registry), retrains the router over the pool,
evaluates the routed bundle, and gates and promotes it (docs/method.md)."""

from __future__ import annotations

from pydantic import BaseModel

from components.evaluation.costs import StepCost
from components.evaluation.routed import Evaluation
from components.jobs.evaluation import EvaluationJob
from components.jobs.experts import ExpertJob
from components.jobs.promotion import Promotion, PromotionJob
from components.jobs.router import RouterJob
from components.methods.method import Method, Runner, StepContext
from components.registry.adapters import AdapterRecord
from components.timing import stage


class LearnedStep(BaseModel):
    experts: list[AdapterRecord]
    router: AdapterRecord
    evaluation: Evaluation
    promotion: Promotion | None  # None: a comparison run, nothing promoted

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
        with stage(f"{step}: router"):
            router = runner.run(RouterJob(scope=c.scope, experts=experts))
        with stage(f"{step}: evaluation"):
            evaluation = runner.run(
                EvaluationJob(
                    scope=c.scope, router=router, experts=experts, evaluate_on=c.evaluate_on
                )
            )
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
            experts=experts, router=router, evaluation=evaluation, promotion=promotion
        )

    def router_accuracy(self, outcome: LearnedStep) -> float | None:
        return outcome.evaluation.router_accuracy
