"""Jobs as values: what their keys follow, and the one reuse rule (the tracking store's record
of a finished job is what a rerun gets back; a failed one is redone)."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from pydantic import BaseModel, ValidationError

from components.cluster.settings import ClusterSettings
from components.data.build import prepared_manifest
from components.jobs.experts import ExpertJob
from components.jobs.job import BenchmarkScope, Job, Scope
from components.jobs.promotion import bundle_key
from components.jobs.reference_rows import ZeroShotJob
from components.methods.lora_ft import BaselineStep, LoraFtStepJob
from components.models.base.loading import BaseRef
from components.registry.adapters import AdapterRecord
from components.registry.tracker import Tracker
from components.settings import Settings

BASE = BaseRef(name_or_path="base", digest="b1")


@pytest.fixture
def scope(micro_home) -> BenchmarkScope:
    settings = Settings(home=micro_home)
    manifest = prepared_manifest(settings.data_dir, "micro")
    return BenchmarkScope(settings=settings, manifest=manifest, base=BASE)


def within(job, **changes):
    """The job with its scope changed."""
    return job.model_copy(update={"scope": job.scope.model_copy(update=changes)})


def test_an_expert_job_is_a_frozen_value_keyed_by_what_its_expert_depends_on(scope):
    manifest = scope.manifest
    job = ExpertJob(scope=scope, task="RS")
    assert job.title == "expert-RS" and job.benchmark == "micro"
    assert job.key() == ExpertJob(scope=scope, task="RS").key()
    with pytest.raises(ValidationError):
        job.task = "Fin"  # type: ignore[misc]

    other_base = within(job, base=BaseRef(name_or_path="base", digest="b2"))
    official = within(job, settings=Settings(home=scope.settings.home, expert_preset="official"))
    entry = manifest.task("RS").model_copy(update={"content_hash": "changed"})
    changed = manifest.model_copy(
        update={"tasks": [entry if t.spec.name == "RS" else t for t in manifest.tasks]}
    )
    new_data = within(job, manifest=changed)
    keys = {job.key(), other_base.key(), official.key(), new_data.key()}
    assert len(keys) == 4
    # another task's data does not concern this expert
    fin = manifest.task("Fin").model_copy(update={"content_hash": "changed"})
    others = manifest.model_copy(
        update={"tasks": [fin if t.spec.name == "Fin" else t for t in manifest.tasks]}
    )
    assert within(job, manifest=others).key() == job.key()


def test_an_unprepared_task_is_named(scope):
    job = ExpertJob(scope=scope, task="Music")
    with pytest.raises(ValueError, match="task 'Music' is not prepared in benchmark 'micro'"):
        job.key()


def test_baseline_keys_chain_through_the_steps_and_follow_the_test_data(scope, tmp_path):
    manifest = scope.manifest
    tasks = manifest.names
    first = LoraFtStepJob(
        method="lora-ft", scope=scope, tasks=tasks, step=1, replay=False, previous=None
    )
    done = BaselineStep(key=first.key(), folder=tmp_path, row={})
    second = first.model_copy(update={"step": 2, "previous": done})
    assert second.title == "lora-ft-step-2" and second.task == tasks[1]
    replayed = first.model_copy(update={"replay": True, "method": "lora-ft-replay"})
    assert replayed.title == "lora-ft-replay-step-1"
    other_chain = second.model_copy(update={"previous": done.model_copy(update={"key": "x"})})
    assert len({first.key(), second.key(), replayed.key(), other_chain.key()}) == 4

    zero = ZeroShotJob(scope=scope, tasks=tasks)
    entry = manifest.task(tasks[-1])
    files = {**entry.files, "test.parquet": "changed"}
    changed = manifest.model_copy(
        update={"tasks": [*manifest.tasks[:-1], entry.model_copy(update={"files": files})]}
    )
    assert within(zero, manifest=changed).key() != zero.key()


def test_a_bundle_key_holds_its_parts_in_any_order(tmp_path):
    def record(name: str, key: str) -> AdapterRecord:
        return AdapterRecord(name=name, version="1", folder=tmp_path, key=key, reused=False)

    router, rs, fin = record("router", "r"), record("RS", "a"), record("Fin", "b")
    assert bundle_key(router, [rs, fin], "Fin") == bundle_key(router, [fin, rs], "Fin")
    assert bundle_key(router, [rs, fin], "Fin") != bundle_key(router, [rs, fin], None)
    assert bundle_key(router, [rs, fin], None) != bundle_key(
        record("router", "r2"), [rs, fin], None
    )


class Count(BaseModel):
    value: int


WORKED: list[str] = []  # the names of the jobs that did their work, in order


class CountingJob(Job[Count]):
    """A job whose work is counting the work done: enough to watch the reuse rule."""

    name: str
    fail: bool = False
    seconds: float = 0.0  # how long the work takes

    @property
    def title(self) -> str:
        return f"count-{self.name}"

    @property
    def experiment(self) -> str:
        return "mllmcl-jobs-test"

    def key(self) -> str:
        return self.name

    def find(self, tracker: Tracker) -> Count | None:
        found = tracker.found("count", self.key(), Count)
        return None if found is None else found[1]

    def work(self, tracker: Tracker) -> Count:
        with tracker.run(self.title, "count", self.key(), "counts its work"):
            WORKED.append(self.name)
            time.sleep(self.seconds)
            if self.fail:
                raise RuntimeError("the job died")
            result = Count(value=len(WORKED))
            tracker.keep(result)
        return result


def test_a_finished_job_is_found_by_its_key_and_a_failed_one_is_done_again(settings):
    WORKED.clear()
    job = CountingJob(scope=Scope(settings=settings), name="a")
    assert job.run() == Count(value=1)
    assert job.run() == Count(value=1) and WORKED == ["a"]  # found, not done again
    assert CountingJob(scope=Scope(settings=settings), name="b").run() == Count(value=2)

    dying = CountingJob(scope=Scope(settings=settings), name="c", fail=True)
    with pytest.raises(RuntimeError, match="the job died"):
        dying.run()
    assert dying.model_copy(update={"fail": False}).run() == Count(value=4)
    assert WORKED == ["a", "b", "c", "c"]


def test_jobs_of_one_key_at_once_take_turns_and_the_second_finds_the_first_s_work(settings):
    WORKED.clear()
    job = CountingJob(scope=Scope(settings=settings), name="d", seconds=1.0)
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda j: j.run(), [job, job]))
    assert WORKED == ["d"] and results == [Count(value=1), Count(value=1)]


def test_a_kept_folder_comes_back_where_it_is_missing(settings, tmp_path):
    tracker = Tracker(settings, "mllmcl-jobs-test", None)
    folder = tmp_path / "adapter"
    folder.mkdir()
    (folder / "weights.bin").write_bytes(b"\x00\x01")
    with tracker.run("keep", "keep", "k1", "keeps a result") as run_id:
        tracker.keep_folder(folder, "adapter")
    target = tmp_path / "models" / "lora-ft" / "k1"  # a models folder made again from nothing
    assert tracker.restore_folder(run_id, "adapter", target) == target
    assert (target / "weights.bin").read_bytes() == b"\x00\x01"
    assert not target.with_name("k1.partial").exists()


def test_the_loss_callback_logs_into_its_run_from_anywhere_and_only_from_the_first_process(
    settings,
):
    from mlflow import MlflowClient
    from transformers import TrainerState

    tracker = Tracker(settings, "losses", None)
    with pytest.raises(RuntimeError, match="inside one"):
        tracker.loss_callback()
    with tracker.run("expert-X", "expert", "k", "streams losses") as run_id:
        callback = tracker.loss_callback()
    # no run is active any more, as in a Ray Train worker's process
    lead, other = TrainerState(global_step=3), TrainerState(global_step=3)
    other.is_world_process_zero = False
    callback.on_log(None, lead, None, logs={"loss": 1.5, "note": "not a number"})
    callback.on_log(None, other, None, logs={"loss": 9.0})
    history = MlflowClient(settings.resolved_tracking_uri).get_metric_history(run_id, "train/loss")
    assert [(m.value, m.step) for m in history] == [(1.5, 3)]


def test_a_first_step_is_the_task_s_expert_but_trains_its_own_beside_ray_train_workers(scope):
    tasks = scope.manifest.names[:2]
    first = LoraFtStepJob(
        method="lora-ft", scope=scope, tasks=tasks, step=1, replay=True, previous=None
    )
    assert first.plan().expert_of == tasks[0]  # a fresh LoRA on the task alone: its expert
    second = first.model_copy(update={"step": 2})
    assert second.plan().expert_of is None  # the replay samples join from here on
    cluster = ClusterSettings(runner="ray", train_workers=2)
    on_workers = within(first, settings=scope.settings.model_copy(update={"cluster": cluster}))
    assert on_workers._expert(tasks[0]) is None  # nothing waits on a training it could starve
