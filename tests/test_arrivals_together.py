"""Arrivals from the command line, as a busy team runs them: two at once in one home are
serialised (the second waits, saying for whom) and lose nothing; a killed arrival leaves no
server process behind, and runs it left RUNNING are closed by the next run of its benchmark."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from mlflow import MlflowClient

from tests.conftest import MICRO_TINY_ENV
from tests.helpers import OPEN_GATES

pytestmark = pytest.mark.integration
MLLMCL = str(Path(sys.executable).with_name("mllmcl"))
PREFECT_SERVER = "prefect.server.api.server:create_app"


def _environment(home: Path, tmp_path: Path, name: str) -> dict[str, str]:
    prefect_home = tmp_path / f"prefect-{name}"  # each CLI its own temporary Prefect server
    prefect_home.mkdir()
    environment = os.environ | {
        "MLLMCL_HOME": str(home),
        "PREFECT_HOME": str(prefect_home),
        "PREFECT_LOGGING_LEVEL": "INFO",
        **MICRO_TINY_ENV,
        **OPEN_GATES,
    }
    for name in ("PREFECT_API_URL", "MLFLOW_TRACKING_URI"):
        environment.pop(name, None)
    return environment


def _arrive(task: str, source: Path, environment: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        [MLLMCL, "arrive", task, "--source", str(source)],
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def test_two_arrivals_at_once_are_serialised_and_lose_nothing(home, micro_domain, tmp_path):
    first = _arrive("RS", micro_domain, _environment(home, tmp_path, "rs"))
    time.sleep(2)
    second = _arrive("Med", micro_domain, _environment(home, tmp_path, "med"))
    outputs = [process.communicate(timeout=900)[0] for process in (first, second)]
    assert [first.returncode, second.returncode] == [0, 0], outputs
    assert any("waiting for the arrival of" in output for output in outputs), outputs
    client = MlflowClient(f"sqlite:///{home / 'mlflow' / 'mlflow.db'}")
    versions = client.search_model_versions("name = 'mllmcl-domain-bundle'")
    pools = sorted(v.tags["experts"] for v in versions)
    assert len(pools) == 2 and len(pools[1].split(",")) == 2, pools  # the later one has both
    champion = client.get_model_version_by_alias("mllmcl-domain-bundle", "champion")
    assert set(champion.tags["experts"].replace(":1", "").split(",")) == {"RS", "Med"}
    manifest = (home / "data" / "domain" / "manifest.json").read_text()
    assert '"RS"' in manifest and '"Med"' in manifest
    assert not list((home / ".mllmcl-staging" / "runs").glob("*/*"))


def _server_children(pid: int) -> list[psutil.Process]:
    try:
        children = psutil.Process(pid).children(recursive=True)
    except psutil.Error:
        return []
    return [p for p in children if PREFECT_SERVER in " ".join(p.cmdline())]


def test_a_killed_arrival_leaves_no_server_and_its_runs_are_closed(home, micro_domain, tmp_path):
    arrival = _arrive("RS", micro_domain, _environment(home, tmp_path, "killed"))
    deadline = time.monotonic() + 120
    servers = []
    while time.monotonic() < deadline and not servers:
        servers = _server_children(arrival.pid)
        time.sleep(0.5)
    assert servers, "the arrival never started its temporary Prefect server"
    time.sleep(8)  # into the flow: the pipeline run exists
    arrival.send_signal(signal.SIGTERM)
    arrival.communicate(timeout=60)
    assert arrival.returncode != 0
    time.sleep(1)
    assert not [p for p in servers if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    client = MlflowClient(f"sqlite:///{home / 'mlflow' / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("mllmcl-domain")
    runs = client.search_runs([experiment.experiment_id]) if experiment else []
    assert all(run.info.status != "RUNNING" for run in runs), [r.info.status for r in runs]


def test_runs_a_dead_process_left_running_are_closed_by_the_next_run(settings):
    from components.registry.pipeline import pipeline_run
    from components.registry.tracking import (
        HOST_TAG,
        PID_TAG,
        STARTED_TAG,
        experiment_id,
        owner_tags,
    )

    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    started = psutil.Process(gone.pid).create_time()
    gone.wait()
    experiment = experiment_id("mllmcl-domain", settings)
    client = MlflowClient()
    dead = client.create_run(
        experiment,
        tags={
            PID_TAG: str(gone.pid),
            HOST_TAG: owner_tags()[HOST_TAG],
            STARTED_TAG: f"{started:.2f}",
        },
    )
    alive = client.create_run(experiment, tags=owner_tags())
    elsewhere = client.create_run(
        experiment, tags={PID_TAG: "1", HOST_TAG: "another-machine", STARTED_TAG: "0"}
    )
    with pipeline_run("mllmcl-domain", "next", settings):
        pass
    status = {run: client.get_run(run.info.run_id).info.status for run in (dead, alive, elsewhere)}
    assert status == {dead: "FAILED", alive: "RUNNING", elsewhere: "RUNNING"}
    assert client.get_run(dead.info.run_id).data.tags["mllmcl.closed"].startswith("its process")
