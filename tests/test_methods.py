"""Methods behind one interface: what each asks its runner to do at a step, and the loop that
takes any method through the tasks in order."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from components.data.build import prepared_manifest
from components.evaluation.routed import Evaluation
from components.jobs.evaluation import EvaluationJob
from components.jobs.experts import ExpertJob
from components.jobs.job import BenchmarkScope, Job
from components.jobs.promotion import Promotion, PromotionJob
from components.jobs.router import RouterJob
from components.methods import METHODS
from components.methods.joint import JointStepJob
from components.methods.lora_ft import BaselineStep, LoraFt, LoraFtReplay, LoraFtStepJob
from components.methods.method import StepContext, learn_in_order
from components.methods.mr_lora import MrLora
from components.methods.protocol import method_runs, protocol_runs, seeded_scope, task_orders
from components.models.base.loading import BaseRef
from components.registry.adapters import AdapterRecord
from components.settings import Settings

BASE = BaseRef(name_or_path="base", digest="b1")


class Recorder:
    """A runner that answers each job with a plain result of its kind and keeps the jobs: what a
    method asks for, without training anything."""

    def __init__(self, folder: Path) -> None:
        self.jobs: list[Job[Any]] = []
        self.folder = folder

    def run(self, job: Job[Any]) -> Any:
        self.jobs.append(job)
        if isinstance(job, ExpertJob | RouterJob):
            task = job.task if isinstance(job, ExpertJob) else ""
            return AdapterRecord(
                name=job.title,
                version="1",
                folder=self.folder,
                key=job.key(),
                reused=False,
                task=task,
            )
        if isinstance(job, EvaluationJob):
            return Evaluation(scores={})
        if isinstance(job, PromotionJob):
            return Promotion(name="bundle", version="1", verdict="promoted", gates=[], champion="1")
        if isinstance(job, LoraFtStepJob):
            return BaselineStep(key=job.key(), folder=self.folder, row={job.task: float(job.step)})
        raise AssertionError(f"unexpected job {job!r}")

    def run_all(self, jobs):
        return [self.run(job) for job in jobs]


@pytest.fixture
def scope(micro_home) -> BenchmarkScope:
    settings = Settings(home=micro_home)
    manifest = prepared_manifest(settings.data_dir, "micro")
    return BenchmarkScope(settings=settings, manifest=manifest, base=BASE)


def test_every_method_is_known_by_its_own_name():
    assert list(METHODS) == [
        "mr-lora",
        "lora-ft",
        "lora-ft-replay",
        "o-lora",
        "moelora",
        "ewc",
        "joint",
    ]
    assert all(METHODS[name].name == name and METHODS[name].summary for name in METHODS)


def test_an_mr_lora_step_trains_the_seen_experts_then_routes_evaluates_and_gates(scope, tmp_path):
    tasks = scope.manifest.names[:3]
    context = StepContext(scope=scope, tasks=tasks, step=2, evaluate_on=tasks, new_task=tasks[0])
    runner = Recorder(tmp_path)
    outcome = MrLora().learn(runner, context, None)
    kinds = [type(job).__name__ for job in runner.jobs]
    assert kinds == ["ExpertJob", "ExpertJob", "RouterJob", "EvaluationJob", "PromotionJob"]
    experts, router, evaluation, promotion = (
        runner.jobs[:2],
        runner.jobs[2],
        runner.jobs[3],
        runner.jobs[4],
    )
    assert [job.task for job in experts] == tasks[:2]  # the seen tasks only
    assert [e.task for e in router.experts] == tasks[:2]
    assert evaluation.evaluate_on == tasks and evaluation.router.key == router.key()
    assert promotion.new_task == tasks[0]  # the task that arrived, wherever it stands
    assert outcome.promotion.verdict == "promoted"

    retrain = MrLora().learn(runner, context.model_copy(update={"new_task": None}), None)
    assert runner.jobs[-1].new_task is None and retrain.experts == outcome.experts


def test_lora_ft_steps_continue_one_another_in_order(scope, tmp_path):
    tasks = scope.manifest.names[:3]
    for method, replay in ((LoraFt(), False), (LoraFtReplay(), True)):
        runner = Recorder(tmp_path)
        outcomes = learn_in_order(method, runner, scope, tasks)
        assert [o.accuracies() for o in outcomes] == [{t: float(i)} for i, t in enumerate(tasks, 1)]
        steps = runner.jobs
        assert [job.step for job in steps] == [1, 2, 3]
        assert all(job.replay is replay and job.tasks == tasks for job in steps)
        assert steps[0].previous is None
        assert [job.previous.key for job in steps[1:]] == [steps[0].key(), steps[1].key()]


def test_joint_learns_every_task_at_once_the_same_model_in_any_order(scope, tmp_path):
    tasks = scope.manifest.names[:3]
    runner = Recorder(tmp_path)
    outcomes = learn_in_order(METHODS["joint"], runner, scope, tasks)
    [job] = runner.jobs
    assert len(outcomes) == 1 and (job.method, job.step, job.previous) == ("joint", 3, None)
    runner = Recorder(tmp_path)
    learn_in_order(METHODS["joint"], runner, scope, [tasks[1], tasks[2], tasks[0]])
    assert runner.jobs[0].key() == job.key()
    # a step over a part of the tasks is a model of that set, whatever its order
    first_two = [
        JointStepJob(method="joint", scope=scope, tasks=order, step=2, replay=False, previous=None)
        for order in (tasks, [tasks[1], tasks[0], tasks[2]], [tasks[2], tasks[0], tasks[1]])
    ]
    assert first_two[0].key() == first_two[1].key() != first_two[2].key()

    runs = protocol_runs(tasks, orders=3, seeds=2)
    assert method_runs(METHODS["joint"], runs) == [r for r in runs if r.order_index == 0]
    assert len(method_runs(METHODS["joint"], runs)) == 2  # one per seed
    assert method_runs(METHODS["lora-ft"], runs) == runs


@pytest.mark.parametrize(
    ("method", "setting", "value"),
    [
        ("ewc", "ewc_strength", 1.0),
        ("o-lora", "olora_orthogonality", 2.0),
        ("moelora", "moelora_experts", 2),
    ],
)
def test_chained_baselines_chain_like_lora_ft_and_key_their_setting(
    scope, tmp_path, method, setting, value
):
    tasks = scope.manifest.names[:2]
    runner = Recorder(tmp_path)
    learn_in_order(METHODS[method], runner, scope, tasks)
    first, second = runner.jobs
    assert (first.method, first.previous, second.previous.key) == (method, None, first.key())
    changed = scope.model_copy(
        update={"settings": scope.settings.model_copy(update={setting: value})}
    )
    assert first.model_copy(update={"scope": changed}).key() != first.key()


def test_a_comparison_run_of_mr_lora_promotes_nothing(scope, tmp_path):
    runner = Recorder(tmp_path)
    outcomes = learn_in_order(MrLora(), runner, scope, scope.manifest.names[:2])
    assert not any(isinstance(job, PromotionJob) for job in runner.jobs)
    assert all(o.promotion is None for o in outcomes)
    with pytest.raises(ValueError, match="comparison run"):
        outcomes[-1].promoted()


def test_the_protocol_s_orders_start_with_the_track_s_and_seeds_change_every_key(scope):
    tasks = ["RS", "Med", "AD", "Sci", "Fin"]
    orders = task_orders(tasks, 3)
    assert orders[0] == tasks and len({tuple(o) for o in orders}) == 3
    assert all(sorted(o) == sorted(tasks) for o in orders)
    assert task_orders(tasks, 2) == orders[:2]  # fewer orders: the same first ones
    assert task_orders(["RS", "Med"], 3)[2] in (["RS", "Med"], ["Med", "RS"])  # only 2 exist
    runs = protocol_runs(tasks, 2, 2)
    assert [(r.order_index, r.seed) for r in runs] == [(0, 0), (0, 1), (1, 0), (1, 1)]
    assert runs[0].is_main and runs[0].label("ewc") == "ewc"
    assert runs[3].label("ewc") == "ewc (order 2, seed 1)"
    with pytest.raises(ValueError):
        protocol_runs(tasks, 0, 1)
    task = scope.manifest.names[0]
    seeded = seeded_scope(scope, 1)
    assert ExpertJob(scope=seeded, task=task).key() != ExpertJob(scope=scope, task=task).key()
    assert ExpertJob(scope=seeded, task=task).adapter.train.seed == 1
