"""Scale-out pieces that need no cluster: the settings, what a job sees outside Ray, the refusals
of the Ray runner and of the local cluster."""

import os
import socket

import pytest
from pydantic import ValidationError

from components.cluster.local_cluster import (
    STATE_FILE,
    LocalCluster,
    Ports,
    Service,
    cluster_folder,
    down,
    up,
)
from components.cluster.worker import placement_tags
from components.settings import Settings, get_settings
from tests.helpers import free_port


def test_the_cluster_settings_come_from_the_environment(home, monkeypatch):
    assert Settings().cluster.runner == "local"
    monkeypatch.setenv("MLLMCL_CLUSTER__RUNNER", "ray")
    monkeypatch.setenv("MLLMCL_CLUSTER__ADDRESS", "ray://head:10001")
    monkeypatch.setenv("MLLMCL_CLUSTER__GPUS_PER_JOB", "0.5")
    cluster = Settings().cluster
    assert (cluster.runner, cluster.address, cluster.cpus_per_job, cluster.gpus_per_job) == (
        "ray",
        "ray://head:10001",
        1.0,
        0.5,
    )
    monkeypatch.setenv("MLLMCL_CLUSTER__RUNNER", "dask")
    with pytest.raises(ValidationError, match="runner"):
        Settings()


def test_several_train_workers_need_the_ray_runner(home, monkeypatch):
    monkeypatch.setenv("MLLMCL_CLUSTER__TRAIN_WORKERS", "2")
    with pytest.raises(ValidationError, match="train_workers = 2 needs runner = 'ray'"):
        Settings()
    monkeypatch.setenv("MLLMCL_CLUSTER__RUNNER", "ray")
    assert Settings().cluster.train_workers == 2


def test_a_job_outside_ray_says_it_ran_locally():
    tags = placement_tags()
    assert tags["mllmcl.runner"] == "local"
    assert int(tags["mllmcl.torch_threads"]) >= 1
    assert not any(name.startswith("mllmcl.ray.") for name in tags)


def test_the_ray_runner_wants_a_prefect_server_its_workers_reach(home, monkeypatch):
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from flows.jobs import on_cluster
    from flows.train_expert import train_experts

    assert on_cluster(train_experts) is train_experts  # the local runner: the flow as it is
    monkeypatch.setenv("MLLMCL_CLUSTER__RUNNER", "ray")
    get_settings.cache_clear()
    with (
        temporary_settings({PREFECT_API_URL: None}),
        pytest.raises(RuntimeError, match="PREFECT_API_URL"),
    ):
        on_cluster(train_experts)


def test_a_local_cluster_is_refused_a_port_in_use_and_starts_nothing(home):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        ports = Ports(ray=free_port(), dashboard=free_port(), mlflow=port, prefect=free_port())
        with pytest.raises(RuntimeError, match=f"ports in use on 127.0.0.1: mlflow {port}"):
            up(home, ports)
    assert not (cluster_folder(home) / STATE_FILE).exists()
    assert down(home) == []  # nothing to stop


def test_a_second_local_cluster_of_a_home_is_refused(home):
    folder = cluster_folder(home)
    folder.mkdir()
    running = Service(pid=os.getpid(), url="http://127.0.0.1:1", log=folder / "x.log")
    state = LocalCluster(
        folder=folder, services={"ray": running}, dashboard="", ray_address="127.0.0.1:1"
    )
    (folder / STATE_FILE).write_text(state.model_dump_json(), encoding="utf-8")
    ports = Ports(ray=free_port(), dashboard=free_port(), mlflow=free_port(), prefect=free_port())
    with pytest.raises(RuntimeError, match="is up already"):
        up(home, ports)
