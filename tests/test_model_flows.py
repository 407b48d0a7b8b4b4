"""Expert and router flows for real: Prefect, MLflow runs and registry, reuse of unchanged work."""

import re

import mlflow
import pytest
from mlflow import MlflowClient
from typer.testing import CliRunner

from cli.main import app
from components.data.build import load_split
from components.registry.models import tracked_run
from flows.train_expert import train_experts
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
    pool = train_router("micro", ["RS", "Fin"])
    router = pool.router
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

    router_version = client.get_model_version("mllmcl-micro-router", "1")
    router_run = client.get_run(router_version.run_id)
    assert router_run.data.tags["mllmcl.key"] == router.key
    assert "router_spec.json" in {a.path for a in client.list_artifacts(router_run.info.run_id)}
    # How well it routes is measured once, by the bundle's evaluation, and tagged on the router.
    [evaluation] = client.search_runs(
        [router_run.info.experiment_id], "tags.`mllmcl.kind` = 'evaluation'"
    )
    metrics = evaluation.data.metrics
    assert metrics["router_accuracy"] == pytest.approx(pool.evaluation.router_accuracy)
    assert {"router_accuracy.RS", "router_accuracy.Fin", "accuracy.RS"} <= set(metrics)
    assert router_version.tags["router_accuracy"] == f"{pool.evaluation.router_accuracy:.2f}"

    # Unchanged tasks, base and settings: the registry and the tracking store hold every result
    # under its key, so nothing is trained, registered or evaluated again.
    again = train_router("micro", ["RS", "Fin"])
    assert all(e.reused for e in again.experts) and again.router.reused
    assert again.experts[0].folder == router_expert_folder(settings, "RS")
    assert again.evaluation == pool.evaluation
    assert len(client.search_model_versions("name = 'mllmcl-micro-expert-RS'")) == 1
    assert len(client.search_model_versions("name = 'mllmcl-micro-router'")) == 1
    runs = client.search_runs([router_run.info.experiment_id], "tags.`mllmcl.kind` = 'evaluation'")
    assert len(runs) == 1
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
