"""A cluster on this machine, for people trying scale-out and for tests: a Ray head, an MLflow
tracking server (sqlite backend, artifacts proxied by the server) and a Prefect server, all on
127.0.0.1, each in a process group of its own. Their state lives in `<home>/.mllmcl-cluster/`
(pids, addresses, logs, the servers' stores) with `cluster.env`, the variables that point the
pipeline's settings at them."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import NamedTuple

from pydantic import BaseModel

FOLDER = ".mllmcl-cluster"
STATE_FILE = "cluster.json"
ENV_FILE = "cluster.env"
HOST = "127.0.0.1"


class Ports(BaseModel):
    ray: int = 6379
    dashboard: int = 8265
    mlflow: int = 5000
    prefect: int = 4200


class Service(BaseModel):
    pid: int
    url: str
    log: Path


class LocalCluster(BaseModel):
    folder: Path
    services: dict[str, Service]  # ray, mlflow, prefect
    dashboard: str
    ray_address: str

    @property
    def mlflow_uri(self) -> str:
        return self.services["mlflow"].url

    @property
    def prefect_api(self) -> str:
        return f"{self.services['prefect'].url}/api"

    def environment(self) -> dict[str, str]:
        """What points the settings (and MLflow's and Prefect's clients) at this cluster."""
        return {
            "MLLMCL_CLUSTER__RUNNER": "ray",
            "MLLMCL_CLUSTER__ADDRESS": self.ray_address,
            "RAY_AUTH_MODE": "token",  # the head's token (~/.ray/auth_token) opens it
            "MLLMCL_TRACKING_URI": self.mlflow_uri,
            "MLFLOW_TRACKING_URI": self.mlflow_uri,
            "PREFECT_API_URL": self.prefect_api,
        }


def cluster_folder(home: Path) -> Path:
    return home / FOLDER


def read_cluster(home: Path) -> LocalCluster | None:
    path = cluster_folder(home) / STATE_FILE
    if not path.is_file():
        return None
    return LocalCluster.model_validate_json(path.read_text(encoding="utf-8"))


def _alive(pid: int) -> bool:
    try:
        if os.waitpid(pid, os.WNOHANG)[0] == pid:  # our child, exited: reaped now
            return False
    except ChildProcessError:
        pass  # started by another process (an earlier `up`)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _port_taken(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex((HOST, port)) == 0


def _tool(name: str) -> str:
    """A console script of this environment (ray, mlflow, prefect)."""
    return str(Path(sys.executable).parent / name)


def _start(command: list[str], log: Path, env: dict[str, str]) -> int:
    with log.open("ab") as out:
        process = subprocess.Popen(
            command,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # its own process group: stopped as one, with its children
            env={**os.environ, **env},
        )
    return process.pid


def _wait_until(ready: Callable[[], bool], what: str, pid: int, log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _alive(pid):
            raise RuntimeError(f"{what} exited while starting; its output: {log}")
        if ready():
            return
        time.sleep(0.5)
    raise RuntimeError(f"{what} did not answer within {timeout:.0f} s; its output: {log}")


def _answers(url: str) -> Callable[[], bool]:
    def ready() -> bool:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return bool(response.status == 200)
        except OSError:
            return False

    return ready


class _Launch(NamedTuple):
    name: str  # of the service and its log
    what: str  # for the messages
    command: list[str]
    url: str
    ready: Callable[[], bool]
    env: dict[str, str]


def _launches(folder: Path, ports: Ports, cpus: int | None, gpus: int | None) -> list[_Launch]:
    resources = (["--num-cpus", str(cpus)] if cpus else []) + (
        ["--num-gpus", str(gpus)] if gpus is not None else []
    )
    mlflow_url, prefect_url = f"http://{HOST}:{ports.mlflow}", f"http://{HOST}:{ports.prefect}"
    ray = [_tool("ray"), "start", "--head", "--block", f"--port={ports.ray}"]
    ray += [f"--dashboard-host={HOST}", f"--dashboard-port={ports.dashboard}", *resources]
    mlflow = [_tool("mlflow"), "server", "--backend-store-uri", f"sqlite:///{folder / 'mlflow.db'}"]
    mlflow += ["--artifacts-destination", str(folder / "mlflow-artifacts")]
    mlflow += ["--host", HOST, "--port", str(ports.mlflow), "--workers", "1"]
    prefect = [_tool("prefect"), "server", "start", "--host", HOST, "--port", str(ports.prefect)]
    return [
        _Launch(
            "ray", "the Ray head", ray, f"{HOST}:{ports.ray}", lambda: _port_taken(ports.ray), {}
        ),
        _Launch(
            "mlflow", "the MLflow server", mlflow, mlflow_url, _answers(f"{mlflow_url}/health"), {}
        ),
        _Launch(
            "prefect",
            "the Prefect server",
            prefect,
            prefect_url,
            _answers(f"{prefect_url}/api/health"),
            {"PREFECT_HOME": str(folder / "prefect")},
        ),
    ]


def up(
    home: Path, ports: Ports, cpus: int | None = None, gpus: int | None = None, timeout: float = 120
) -> LocalCluster:
    """Start the three services (refused when this home's cluster runs or a port is taken);
    a service that fails to start stops the ones started before it."""
    running = read_cluster(home)
    if running is not None and any(_alive(s.pid) for s in running.services.values()):
        raise RuntimeError(f"a cluster of {home} is up already (`mllmcl cluster down` stops it)")
    taken = [f"{name} {port}" for name, port in ports.model_dump().items() if _port_taken(port)]
    if taken:
        raise RuntimeError(f"ports in use on {HOST}: {', '.join(taken)}; choose others")
    folder = cluster_folder(home)
    (folder / "logs").mkdir(parents=True, exist_ok=True)
    started: dict[str, Service] = {}
    try:
        for launch in _launches(folder, ports, cpus, gpus):
            log = folder / "logs" / f"{launch.name}.log"
            pid = _start(launch.command, log, launch.env)
            started[launch.name] = Service(pid=pid, url=launch.url, log=log)
            _wait_until(launch.ready, launch.what, pid, log, timeout)
    except BaseException:
        _stop_all(started.values())
        raise
    cluster = LocalCluster(
        folder=folder,
        services=started,
        dashboard=f"http://{HOST}:{ports.dashboard}",
        ray_address=started["ray"].url,
    )
    (folder / STATE_FILE).write_text(cluster.model_dump_json(indent=2), encoding="utf-8")
    exports = "".join(f"export {k}={v}\n" for k, v in cluster.environment().items())
    (folder / ENV_FILE).write_text(exports, encoding="utf-8")
    return cluster


def _stop_all(services: Iterable[Service], grace: float = 10) -> None:
    """Each service's process group: asked to stop, killed after `grace` seconds."""
    groups = [s.pid for s in services]
    _signal_groups(groups, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and any(_alive(pid) for pid in groups):
        time.sleep(0.3)
    _signal_groups(groups, signal.SIGKILL)


def _signal_groups(groups: list[int], sign: signal.Signals) -> None:
    for pid in groups:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, sign)


def down(home: Path) -> list[str]:
    """Stop this home's cluster (what runs of it); its stores stay for the next `up`. Returns
    the services that were running."""
    cluster = read_cluster(home)
    if cluster is None:
        return []
    running = [name for name, s in cluster.services.items() if _alive(s.pid)]
    _stop_all(cluster.services.values())
    (cluster.folder / STATE_FILE).unlink()
    (cluster.folder / ENV_FILE).unlink(missing_ok=True)
    return running
