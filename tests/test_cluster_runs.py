"""Scale-out on a real local Ray cluster (2 CPUs, 2 logical GPUs): prefect-ray's task runner,
each job a Ray task with the resources the settings declare."""

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest
import torch
from mlflow import MlflowClient
from prefect import flow, task
from safetensors.torch import load_file

from components.cluster.settings import Reservation
from components.settings import get_settings
from flows.jobs import on_cluster, start
from flows.train_expert import train_experts
from tests.conftest import MICRO_TINY_ENV, project_home, within_home
from tests.helpers import OPEN_GATES, free_port, prepare_without_prefect

pytestmark = pytest.mark.integration
MLLMCL = str(Path(sys.executable).with_name("mllmcl"))

ONE_EPOCH = {"MLLMCL_EXPERT_PRESET": "official"}  # one epoch: where the experts run is the point
RAY_ENV = {
    "MLLMCL_CLUSTER__RUNNER": "ray",
    "MLLMCL_CLUSTER__CPUS_PER_JOB": "1",
    "MLLMCL_CLUSTER__GPUS_PER_JOB": "1",
}


@pytest.fixture
def local_ray():
    ray = pytest.importorskip("ray")
    ray.init(
        address="local",  # a new instance, whatever other cluster runs on this machine
        num_cpus=2,
        num_gpus=2,  # logical: Ray hands them out, torch finds no CUDA device on this machine
        include_dashboard=False,
        log_to_driver=False,
        object_store_memory=100 * 1024 * 1024,
    )
    yield ray
    ray.shutdown()


def _with_base(models_dir: Path, tiny_base) -> None:
    """The session's micro base in this home's models folder: found there and registered on
    first use, not built again."""
    built = Path(tiny_base.ref.name_or_path)
    shutil.copytree(built, models_dir / built.name)


def _train(root, micro_domain, tiny_base, env, tasks):
    """The experts of `tasks` trained in a fresh home under `root` with `env` set."""
    root.mkdir()
    with (
        pytest.MonkeyPatch.context() as patch,
        project_home(root, patch, MICRO_TINY_ENV | env) as home,
    ):
        settings = get_settings()
        prepare_without_prefect(micro_domain, "micro", settings)
        _with_base(settings.models_dir, tiny_base)
        experts = on_cluster(train_experts)("micro", tasks)
        client = MlflowClient(settings.resolved_tracking_uri)
        runs = {
            e.task: client.get_run(
                client.get_model_version(f"mllmcl-micro-expert-{e.task}", e.version).run_id
            )
            for e in experts
        }
        return home, experts, runs


ONE_CPU = Reservation(cpus=1, gpus=0)


@task
def _stay(seconds: float, meet: Path | None = None) -> tuple[int, float, float, bool]:
    """Where and when it ran. With `meet`, it waits there (up to `seconds`) for another run to
    arrive too, and says whether one did: runs that go side by side meet however loaded the
    machine is; runs one after the other cannot."""
    began, met = time.time(), False
    if meet is None:
        time.sleep(seconds)
    else:
        (meet / str(os.getpid())).touch()
        while not met and time.time() < began + seconds:
            met = len(list(meet.iterdir())) >= 2
            time.sleep(0.1)
    return os.getpid(), began, time.time(), met


@task
def _start_inside() -> tuple[int, int]:
    """Its own process, and that of the work it starts."""
    return os.getpid(), start(_stay, ONE_CPU, 0.0).result()[0]


@flow
def _independent_runs(
    meet: Path | None,
) -> tuple[list[tuple[int, float, float, bool]], tuple[int, int]]:
    beside = [start(_stay, ONE_CPU, 60.0 if meet else 0.5, meet) for _ in range(2)]
    inside = start(_start_inside, ONE_CPU)
    return [b.result() for b in beside], inside.result()


def test_independent_runs_go_side_by_side_on_ray_and_one_after_another_locally(
    prefect_server, local_ray, home, monkeypatch, tmp_path
):
    for name, value in RAY_ENV.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    (first, second), (task_pid, started_pid) = on_cluster(_independent_runs)(tmp_path)
    assert first[0] != second[0] != os.getpid()  # two Ray workers
    assert first[3] and second[3]  # each met the other: at the same time
    assert started_pid == task_pid  # started inside a Ray task: run there, not submitted

    monkeypatch.setenv("MLLMCL_CLUSTER__RUNNER", "local")
    get_settings.cache_clear()
    (first, second), (task_pid, started_pid) = on_cluster(_independent_runs)(None)
    assert first[0] == second[0] == task_pid == started_pid == os.getpid()
    assert first[2] <= second[1]  # one after the other


def _weights(expert):
    return load_file(str(expert.folder / "adapter_model.safetensors"))


def test_two_experts_train_in_parallel_as_ray_tasks_and_equal_local_ones(
    prefect_server, local_ray, micro_domain, tiny_base, tmp_path
):
    tasks = ["RS", "Med"]
    _, local, _ = _train(tmp_path / "local", micro_domain, tiny_base, ONE_EPOCH, tasks)
    _, on_ray, runs = _train(tmp_path / "ray", micro_domain, tiny_base, ONE_EPOCH | RAY_ENV, tasks)

    assert [(e.task, e.version, e.reused) for e in on_ray] == [(t, "1", False) for t in tasks]
    for name in tasks:
        tags = runs[name].data.tags
        assert tags["mllmcl.runner"] == "ray"
        assert (tags["mllmcl.ray.cpu"], tags["mllmcl.ray.gpu"]) == ("1", "1")
        assert tags["mllmcl.torch_threads"] == "1"  # torch follows the CPUs Ray gave the task
    first, second = (runs[t].info for t in tasks)
    assert runs["RS"].data.tags["mllmcl.pid"] != runs["Med"].data.tags["mllmcl.pid"]
    assert first.start_time < second.end_time and second.start_time < first.end_time  # overlap

    for here, there in zip(local, on_ray, strict=True):
        mine, theirs = _weights(here), _weights(there)
        assert mine.keys() == theirs.keys() and mine
        for name in mine:
            torch.testing.assert_close(mine[name], theirs[name], rtol=1e-4, atol=1e-5)


def test_one_expert_trained_by_two_ray_train_workers(
    prefect_server, local_ray, micro_domain, tiny_base, tmp_path
):
    from components.data.build import load_split
    from components.models.lora.settings import EXPERT_PRESETS

    two_workers = RAY_ENV | {
        "MLLMCL_CLUSTER__TRAIN_WORKERS": "2",
        "MLLMCL_CLUSTER__GPUS_PER_JOB": "0",  # gloo workers: no CUDA device on this machine
    }
    home, (expert,), runs = _train(
        tmp_path / "train", micro_domain, tiny_base, ONE_EPOCH | two_workers, ["RS"]
    )
    run = runs["RS"]
    assert (expert.version, expert.reused) == ("1", False)
    assert run.data.params["train_workers"] == "2"  # the lead saw a world of two
    assert 0 <= run.data.metrics["test_accuracy"] <= 100  # scored once, by the lead
    assert not any((home / "models" / ".ray-train").iterdir())  # the checkpoint was moved
    weights = _weights(expert)
    assert weights and all(torch.isfinite(w).all() for w in weights.values())

    # the batch is split over the workers: as many optimizer steps as one worker takes alone
    client = MlflowClient(f"sqlite:///{home / 'mlflow' / 'mlflow.db'}")
    (loss,) = client.get_metric_history(run.info.run_id, "train/train_loss")
    samples = len(load_split(home / "data", "micro", "RS", "train"))
    batch = EXPERT_PRESETS["official"].train.batch_size
    assert loss.step == -(-samples // batch) > 0

    # the same expert as one the job trains alone: the local runner finds it by its key
    with (
        pytest.MonkeyPatch.context() as patch,
        within_home(home, patch, MICRO_TINY_ENV | ONE_EPOCH),
    ):
        (alone,) = train_experts("micro", ["RS"])
    assert (alone.version, alone.reused) == ("1", True)


def _cluster_command(*arguments: str, home, env=None) -> subprocess.CompletedProcess:
    environment = os.environ | {"MLLMCL_HOME": str(home), **(env or {})}
    return subprocess.run(
        [MLLMCL, "cluster", *arguments],
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_a_task_arrival_runs_on_the_local_cluster_against_its_tracking_server(
    home, micro_domain, tiny_base, monkeypatch
):
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from components.cluster.local_cluster import read_cluster
    from components.registry.tracking import TrackingServerUnreachable
    from flows.continual import on_task_arrival

    ports = {name: free_port() for name in ("ray", "dashboard", "mlflow", "prefect")}
    options = [f"--{name}-port={port}" for name, port in ports.items()]
    started = _cluster_command("up", "--cpus=2", *options, home=home)
    assert started.returncode == 0, started.stdout + started.stderr
    try:
        cluster = read_cluster(home)
        assert cluster is not None
        assert f"source {cluster.folder / 'cluster.env'}" in started.stdout
        _with_base(home / "models", tiny_base)
        for name, value in (
            cluster.environment() | MICRO_TINY_ENV | ONE_EPOCH | OPEN_GATES
        ).items():
            monkeypatch.setenv(name, value)
        get_settings.cache_clear()
        with temporary_settings({PREFECT_API_URL: cluster.prefect_api}):
            promotion = on_cluster(on_task_arrival)("RS", micro_domain, "micro")
        assert promotion.version == "1"

        client = MlflowClient(cluster.mlflow_uri)  # the tracking server, not a local file
        expert = client.get_model_version("mllmcl-micro-expert-RS", "1")
        run = client.get_run(expert.run_id)
        assert run.data.tags["mllmcl.runner"] == "ray"
        assert run.info.artifact_uri.startswith("mlflow-artifacts:")  # proxied by the server
        assert list((cluster.folder / "mlflow-artifacts").rglob("adapter_model.safetensors"))
        assert not (home / "mlflow" / "mlflow.db").exists()

        os.killpg(cluster.services["mlflow"].pid, signal.SIGKILL)  # the tracking server fails
        with (
            temporary_settings({PREFECT_API_URL: cluster.prefect_api}),
            pytest.raises(TrackingServerUnreachable, match=cluster.mlflow_uri),
        ):
            on_cluster(on_task_arrival)("Med", micro_domain, "micro")
        store = MlflowClient(f"sqlite:///{cluster.folder / 'mlflow.db'}")  # the server's own
        champion = store.get_model_version_by_alias("mllmcl-micro-bundle", "champion")
        assert str(champion.version) == promotion.champion == "1"
        assert not store.search_model_versions("name = 'mllmcl-micro-expert-Med'")
    finally:
        import ray

        ray.shutdown()  # this process's connection to the cluster
        stopped = _cluster_command("down", home=home)
    assert stopped.returncode == 0 and "stopped: ray, prefect" in stopped.stdout
    assert all(not psutil.pid_exists(s.pid) for s in cluster.services.values())


def test_a_killed_worker_is_retried_and_its_expert_registered_once(
    prefect_server, local_ray, micro_domain, tiny_base, tmp_path
):
    root = tmp_path / "killed"
    root.mkdir()
    with (
        pytest.MonkeyPatch.context() as patch,
        project_home(root, patch, MICRO_TINY_ENV | RAY_ENV),
    ):
        settings = get_settings()
        prepare_without_prefect(micro_domain, "micro", settings)
        _with_base(settings.models_dir, tiny_base)
        client = MlflowClient(settings.resolved_tracking_uri)
        outcome: dict = {}
        flow = threading.Thread(
            target=lambda: outcome.update(experts=on_cluster(train_experts)("micro", ["RS"]))
        )
        flow.start()
        killed = _kill_the_worker_training(client, "expert-RS", timeout=300)
        flow.join(timeout=600)
        [expert] = outcome["experts"]
        assert (expert.version, expert.reused) == ("1", False)
        assert len(client.search_model_versions("name = 'mllmcl-micro-expert-RS'")) == 1
        runs = client.search_runs(
            [e.experiment_id for e in client.search_experiments()],
            "attributes.run_name = 'expert-RS'",
        )
        pids = {r.info.status: r.data.tags["mllmcl.pid"] for r in runs}
        assert pids["FINISHED"] != str(killed) and pids["RUNNING"] == str(killed)


def _kill_the_worker_training(client, run_name: str, timeout: float) -> int:
    """SIGKILL the process behind the first RUNNING run of that name, once it is training."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for run in client.search_runs(
            [e.experiment_id for e in client.search_experiments()],
            f"attributes.run_name = '{run_name}' and attributes.status = 'RUNNING'",
        ):
            if client.get_metric_history(run.info.run_id, "train/loss"):
                pid = int(run.data.tags["mllmcl.pid"])
                os.kill(pid, signal.SIGKILL)
                return pid
        time.sleep(0.5)
    raise TimeoutError(f"no {run_name} run was training within {timeout:.0f} s")
