"""A served bundle for real: `mllmcl serve` on loopback in front of a registered bundle. It
answers concurrent clients exactly as it answers them one at a time, and refuses every hostile
request class quickly, with a JSON error and bounded memory, staying up."""

import base64
import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import mlflow
import psutil
import pytest
from mlflow import MlflowClient

from components.data.build import load_split
from components.models.base.loading import base_ref
from components.registry.bundle import BundleParts
from components.registry.bundle_model import register_bundle
from components.registry.tracking import configure_tracking, experiment_id
from components.serving.client import dataframe_body, image_base64, invoke
from components.settings import Settings
from tests.helpers import free_port, png_bomb, stop, wait_for_http

pytestmark = pytest.mark.integration
MAX_ROWS = 16
MAX_BODY = 2 * 1024 * 1024


def _tree_rss(pid: int) -> int:
    process = psutil.Process(pid)
    return sum(p.memory_info().rss for p in [process, *process.children(recursive=True)])


@pytest.fixture(scope="module")
def server(tiny_base, two_experts_and_router, tmp_path_factory):
    experts, router, spec = two_experts_and_router
    home = tmp_path_factory.mktemp("serve-home")
    (home / "prefect.yaml").write_text("name: test\n")
    parts = BundleParts(
        base=base_ref(tiny_base.ref.name_or_path),
        router=router,
        router_version="1",
        experts=experts,
        expert_versions={task: "1" for task in experts},
        spec=spec,
    )
    with pytest.MonkeyPatch.context() as patch:  # MLflow exports the URI an earlier test set
        patch.delenv("MLFLOW_TRACKING_URI", raising=False)
        settings = Settings(home=home)
        configure_tracking(settings)
        with mlflow.start_run(experiment_id=experiment_id("serving", settings)):
            register_bundle("served", parts, settings, True, {}, "a test bundle")
    port = free_port()
    environment = os.environ | {
        "MLLMCL_HOME": str(home),
        "MLLMCL_SERVE__MAX_ROWS": str(MAX_ROWS),
        "MLLMCL_SERVE__MAX_REQUEST_BYTES": str(MAX_BODY),
        "MLLMCL_SERVE__CONFIDENCE_WINDOW": "6",  # one request's rows per point
    }
    environment.pop("MLFLOW_TRACKING_URI", None)
    mllmcl = str(Path(sys.executable).with_name("mllmcl"))
    log = home / "serve.log"
    with log.open("w") as output:
        process = subprocess.Popen(
            [mllmcl, "serve", "--benchmark", "served", "--version", "1", "--port", str(port)],
            env=environment,
            start_new_session=True,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        try:
            wait_for_http(f"http://127.0.0.1:{port}/ping", 180, process)
        except (RuntimeError, TimeoutError) as error:
            raise RuntimeError(f"{error}:\n{log.read_text()[-3000:]}") from None
        yield f"http://127.0.0.1:{port}", process, home
    finally:
        stop(process)


@pytest.fixture(scope="module")
def bodies(micro_home):
    """Twelve request bodies of six rows, RS and Fin items mixed."""
    items = []
    for task in ("RS", "Fin"):
        split = load_split(micro_home / "data", "micro", task, "test")
        items += [[image_base64(row["image"]), row["text"]] for row in split]
    items = [items[i] for i in range(len(items)) if i % 2 == 0] + items[1::2]
    return [dataframe_body([items[(6 * b + r) % len(items)] for r in range(6)]) for b in range(12)]


def test_concurrent_clients_get_the_answers_one_client_gets(server, bodies):
    url, _, _ = server
    alone = [invoke(url, body) for body in bodies]
    assert all(reply.status == 200 for reply in alone), alone[0]
    with ThreadPoolExecutor(5) as pool:
        together = list(pool.map(lambda body: invoke(url, body), bodies))
    assert [reply.json() for reply in together] == [reply.json() for reply in alone]
    first = alone[0].json()["predictions"][0]
    assert set(first) == {"answer", "expert", "letter", "confidence", "low_confidence", "notes"}
    assert 0 < first["confidence"] <= 1
    assert first["low_confidence"] == (first["confidence"] < 0.5)
    experts = {p["expert"] for reply in alone for p in reply.json()["predictions"]}
    assert experts == {"RS", "Fin"}
    # the server's MLflow run draws the low-confidence share of every 6 answers
    client = MlflowClient(f"sqlite:///{server[2] / 'mlflow' / 'mlflow.db'}")
    [run] = client.search_runs(
        [client.get_experiment_by_name("mllmcl-served").experiment_id],
        "tags.`mllmcl.kind` = 'serving'",
    )
    history = client.get_metric_history(run.info.run_id, "low_confidence_share")
    assert sorted(m.step for m in history) == list(range(6, 6 * 24 + 1, 6))
    first_round = [m.value for m in sorted(history, key=lambda m: m.step)][:12]
    assert first_round == [
        pytest.approx(100 * sum(p["low_confidence"] for p in reply.json()["predictions"]) / 6)
        for reply in alone
    ]


def test_hostile_requests_are_refused_quickly_and_the_server_stays_up(server, bodies):
    url, process, home = server
    image, question = json.loads(bodies[0])["dataframe_split"]["data"][0]
    secret = home / "mlflow" / "mlflow.db"  # a file the server can read
    bomb = base64.b64encode(png_bomb(12000)).decode()
    cases = {
        "server file": ([[str(secret), question]], 400, "reads no files"),
        "system file": ([["/etc/shadow", question]], 400, "reads no files"),
        "missing file": ([["/no/such.png", question]], 400, "reads no files"),
        "12000x12000 png": ([[bomb, question]], 400, "exceeds the limit"),
        "100k question": ([[image, "q" * 100_000]], 400, "100000 characters"),
        "1M question": ([[image, "q" * 1_000_000]], 400, "1000000 characters"),
        "3 MB body": ([[image, "q" * 3_000_000]], 413, "body exceeds the limit"),
        "data uri, no comma": ([["data:image/png;base64", question]], 400, "data URI"),
        "number": ([[image, 42]], 400, "field question"),
        "null": ([[None, question]], 400, "field image"),
        "image token": ([[image, "<image> what?"]], 400, "reserved token"),
        "too many rows": ([[image, question]] * (MAX_ROWS + 1), 413, "rows exceeds"),
    }
    bodies = {name: dataframe_body(rows) for name, (rows, _, _) in cases.items()}
    bodies |= {"not json": b"{not json", "unknown format": json.dumps({"rows": []}).encode()}
    expected = {name: (status, fragment) for name, (_, status, fragment) in cases.items()}
    expected |= {"not json": (400, "not valid JSON"), "unknown format": (400, "expected one of")}
    baseline = _tree_rss(process.pid)
    for name, body in bodies.items():
        reply = invoke(url, body)
        text = reply.body.decode()
        status, fragment = expected[name]
        assert (name, reply.status) == (name, status), text[:300]
        assert fragment in reply.json()["message"], (name, text[:300])
        assert reply.seconds < 5, (name, reply.seconds)
        assert "Traceback" not in text and str(home) not in text, (name, text[:300])
    assert invoke(url, dataframe_body([[image, question]]), content_type="text/csv").status == 415
    # A valid base64 image is never mistaken for a path.
    for _ in range(10):
        assert invoke(url, dataframe_body([[image, question]])).status == 200
    assert _tree_rss(process.pid) - baseline < 300 * 1024 * 1024
    with urllib.request.urlopen(f"{url}/ping", timeout=5) as response:
        assert response.status == 200
