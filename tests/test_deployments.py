"""The operator's path for real: a Prefect server on loopback, a process work pool, `prefect
deploy --all` from the checkout, a worker, then `mllmcl arrive` emits mllmcl.task.arrived; the
task-arrival deployment runs, and the registry shows the new bundle version as champion."""

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from mlflow import MlflowClient

from tests.conftest import MICRO_TINY_ENV
from tests.helpers import OPEN_GATES, free_port, stop, wait_for_http

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def _api(url: str, path: str, body: dict) -> list | dict:
    request = urllib.request.Request(
        f"{url}{path}", data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def _run(command: list[str], env: dict) -> str:
    done = subprocess.run(command, env=env, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"{command}: {done.stdout}\n{done.stderr}"
    return done.stdout


def _flow_runs(url: str, deployment: str) -> list[dict]:
    [found] = _api(url, "/deployments/filter", {"deployments": {"name": {"any_": [deployment]}}})
    return _api(url, "/flow_runs/filter", {"flow_runs": {"deployment_id": {"any_": [found["id"]]}}})


def test_an_arrival_event_runs_the_task_arrival_deployment(home, micro_domain, tmp_path):
    port = free_port()
    url = f"http://127.0.0.1:{port}/api"
    env = {
        **os.environ,
        "PREFECT_HOME": str(tmp_path / "prefect"),
        "PREFECT_API_URL": url,
        "PREFECT_SERVER_API_PORT": str(port),
        "PREFECT_WORKER_QUERY_SECONDS": "2",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "MLLMCL_HOME": str(home),
        **MICRO_TINY_ENV,
        **OPEN_GATES,
    }
    prefect = str(BIN / "prefect")
    server = subprocess.Popen(
        [prefect, "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
    )
    worker = None
    try:
        wait_for_http(f"{url}/health", 120, server)
        _run([prefect, "work-pool", "create", "mllmcl", "--type", "process"], env)
        deployed = _run([prefect, "--no-prompt", "deploy", "--all"], env)
        assert "task-arrival" in deployed
        worker = subprocess.Popen(
            [prefect, "worker", "start", "--pool", "mllmcl"],
            env=env,
            cwd=REPO,
            start_new_session=True,
            stdout=subprocess.DEVNULL,
        )
        arrived = _run([str(BIN / "mllmcl"), "arrive", "RS", "--source", str(micro_domain)], env)
        assert "emitted mllmcl.task.arrived" in arrived
        deadline = time.monotonic() + 420
        state = None
        while time.monotonic() < deadline:
            runs = _flow_runs(url, "task-arrival")
            state = runs[0]["state_type"] if runs else None
            if state in {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}:
                break
            time.sleep(3)
        assert state == "COMPLETED", f"task-arrival run ended as {state}"
        assert runs[0]["parameters"]["task"] == "RS"
    finally:
        for process in (worker, server):
            if process is not None:
                stop(process)
    client = MlflowClient(f"sqlite:///{home / 'mlflow' / 'mlflow.db'}")
    champion = client.get_model_version_by_alias("mllmcl-domain-bundle", "champion")
    assert champion.tags["new_task"] == "RS" and champion.tags["experts"] == "RS:1"
