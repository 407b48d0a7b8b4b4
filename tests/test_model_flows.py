"""Expert and router flows for real: Prefect, MLflow runs and registry, reuse of unchanged work."""

import re
import shutil

import mlflow
import pytest
from mlflow import MlflowClient
from typer.testing import CliRunner

from cli.main import app
from components.data.build import load_split
from components.registry.models import tracked_run
from flows.base import ensure_base, store_scope
from flows.train_expert import train_experts, train_one_expert
from flows.train_router import train_router
from tests.conftest import MICRO_TINY
from tests.helpers import prepare_without_prefect

pytestmark = pytest.mark.integration


def router_expert_folder(settings, task):
    [folder] = (settings.models_dir / "micro" / "experts" / task).iterdir()
    return folder


@pytest.fixture
def micro_models_home(home, settings, micro_domain, monkeypatch):
    for key, value in MICRO_TINY.items():
        monkeypatch.setenv(f"MLLMCL_TINY__{key.upper()}", str(value))
    monkeypatch.setenv("MLLMCL_EXPERT_PRESET", "cpu")
    from components.settings import get_settings

    get_settings.cache_clear()
    prepare_without_prefect(micro_domain, "micro", get_settings())
    return home


def test_experts_and_router_are_tracked_registered_and_reused(prefect_server, micro_models_home):
    from components.settings import get_settings

    settings = get_settings()
    router = train_router("micro", ["RS", "Fin"])
    client = MlflowClient(settings.resolved_tracking_uri)
    mlflow.set_tracking_uri(settings.resolved_tracking_uri)

    assert (
        client.get_model_version("mllmcl-base-tiny", "1").tags["config_digest"]
        == settings.tiny.digest()
    )
    rs = client.get_model_version("mllmcl-micro-expert-RS", "1")
    fin = client.get_model_version("mllmcl-micro-expert-Fin", "1")
    assert router.name == "mllmcl-micro-router" and router.version == "1" and not router.reused
    assert client.get_model_version("mllmcl-micro-router", "1").tags["experts"] == "RS:1,Fin:1"

    run = client.get_run(rs.run_id)
    params = run.data.params
    assert params["task"] == "RS" and params["preset"] == "cpu"
    assert params["adapter.rank"] == "16" and params["adapter.train.learning_rate"] == "0.003"
    assert params["base_digest"] == rs.tags["base_digest"]
    assert params["task_data_version"] == rs.tags["data_version"]
    metrics = run.data.metrics
    assert {
        "test_accuracy",
        "adapter_bytes",
        "train_seconds",
        "samples_per_second",
        "wall_seconds",
    } <= set(metrics)
    assert len(client.get_metric_history(rs.run_id, "train/loss")) >= 2
    base_run = client.get_run(client.get_model_version("mllmcl-base-tiny", "1").run_id)
    assert any(key.startswith("system/") for key in base_run.data.metrics)  # sampled every 1 s
    artifacts = {a.path for a in client.list_artifacts(rs.run_id, "adapter")}
    assert "adapter/adapter_model.safetensors" in artifacts
    assert "mlflow.parentRunId" not in run.data.tags  # no pipeline run was given
    with mlflow.start_run(experiment_id=run.info.experiment_id) as pipeline:
        pass
    with tracked_run("mllmcl-micro", "child", "expert", settings, pipeline.info.run_id) as child:
        pass
    assert client.get_run(child.info.run_id).data.tags["mlflow.parentRunId"] == pipeline.info.run_id

    router_run = client.get_run(client.get_model_version("mllmcl-micro-router", "1").run_id)
    assert "router_accuracy" in router_run.data.metrics
    assert "router_accuracy.Fin" in router_run.data.metrics
    names = {a.path for a in client.list_artifacts(router_run.info.run_id)}
    assert {"router_confusion.png", "router_spec.json"} <= names

    # Unchanged task, base and settings: not trained again, whether Prefect's cache answers or
    # (with the cache refreshed) the registry finds the expert by its key.
    again = train_experts("micro", ["RS"])
    assert again[0].version == "1" and again[0].folder == router_expert_folder(settings, "RS")
    refreshed = train_one_expert.with_options(refresh_cache=True)("micro", "RS", ensure_base())
    assert refreshed.reused and refreshed.version == "1"
    assert len(client.search_model_versions("name = 'mllmcl-micro-expert-RS'")) == 1
    assert str(fin.version) == "1"

    # `mllmcl predict` answers with the registered router and experts.
    row = load_split(settings.data_dir, "micro", "Fin", "test")[0]
    image = micro_models_home / "question.png"
    row["image"].save(image)
    result = CliRunner().invoke(
        app, ["predict", "--benchmark", "micro", "--image", str(image), "--question", row["text"]]
    )
    assert result.exit_code == 0, result.output
    assert "expert: " in result.output and "router v1" in result.output
    assert re.search(r"expert: [AB] = (RS|Fin) \(v1, router v1\)\nanswer: ", result.output)

    # ... or with adapter folders on disk: the router's folder names its pool.
    [router_folder] = (settings.models_dir / "micro" / "router").iterdir()
    local = [
        "predict",
        "--image",
        str(image),
        "--question",
        row["text"],
        "--router",
        str(router_folder),
        "--expert",
        f"RS={router_expert_folder(settings, 'RS')}",
    ]
    missing = CliRunner().invoke(app, local)
    assert missing.exit_code == 2 and "routes to Fin too" in missing.output
    local += ["--expert", f"Fin={router_expert_folder(settings, 'Fin')}"]
    answered = CliRunner().invoke(app, local)
    assert answered.exit_code == 0, answered.output
    assert re.search(r"expert: [AB] = (RS|Fin) \(vlocal, router vlocal\)", answered.output)
    assert answered.output.split("answer: ")[1] == result.output.split("answer: ")[1]


def test_a_process_task_runner_trains_the_experts_in_worker_processes(
    prefect_server, micro_models_home, monkeypatch
):
    from prefect.task_runners import ProcessPoolTaskRunner

    from components.settings import get_settings

    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # each worker's share of the cores
    runner = ProcessPoolTaskRunner(max_workers=2)
    experts = train_experts.with_options(task_runner=runner)("micro", ["RS", "Med"])
    assert [(e.task, e.version, e.reused) for e in experts] == [
        ("RS", "1", False),
        ("Med", "1", False),
    ]
    client = MlflowClient(get_settings().resolved_tracking_uri)
    for expert in experts:
        assert (expert.folder / "adapter_model.safetensors").is_file()
        version = client.get_model_version(f"mllmcl-micro-expert-{expert.task}", "1")
        assert client.get_run(version.run_id).info.status == "FINISHED"


def test_a_store_made_again_at_the_same_path_is_not_the_old_one(settings):
    """Prefect's task cache outlives a deleted store: records cached against the old one must
    not be found by one made again at the same path (a re-cloned checkout, say)."""
    first = store_scope()
    assert store_scope() == first
    shutil.rmtree(settings.models_dir)
    assert store_scope() != first
