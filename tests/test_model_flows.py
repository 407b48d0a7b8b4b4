"""Expert and router flows for real: Prefect, MLflow runs and registry, reuse of unchanged work.
The pool is trained once per module; each test looks at one side of it."""

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
from tests.conftest import MICRO_TINY_ENV, project_home
from tests.helpers import prepare_without_prefect

pytestmark = pytest.mark.integration


def router_expert_folder(settings, task):
    [folder] = (settings.models_dir / "micro" / "experts" / task).iterdir()
    return folder


@pytest.fixture
def micro_models_home(home, settings, micro_domain, monkeypatch):
    for key, value in MICRO_TINY_ENV.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("MLLMCL_EXPERT_PRESET", "cpu")
    from components.settings import get_settings

    get_settings.cache_clear()
    prepare_without_prefect(micro_domain, "micro", get_settings())
    return home


@pytest.fixture(scope="module")
def pool(prefect_server, micro_domain, tmp_path_factory):
    """Experts for RS and Fin and a router over them, trained once for the tests below."""
    from components.settings import get_settings

    env = MICRO_TINY_ENV | {"MLLMCL_EXPERT_PRESET": "cpu"}
    with (
        pytest.MonkeyPatch.context() as patch,
        project_home(tmp_path_factory.mktemp("pool"), patch, env) as home,
    ):
        settings = get_settings()
        prepare_without_prefect(micro_domain, "micro", settings)
        trained = train_router("micro", ["RS", "Fin"])
        mlflow.set_tracking_uri(settings.resolved_tracking_uri)
        yield home, settings, trained, MlflowClient(settings.resolved_tracking_uri)


def test_the_base_and_experts_are_registered_with_their_runs(pool):
    _, settings, _, client = pool
    assert (
        client.get_model_version("mllmcl-base-tiny", "1").tags["config_digest"]
        == settings.tiny.digest()
    )
    rs = client.get_model_version("mllmcl-micro-expert-RS", "1")
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


def test_the_router_is_registered_and_measured_by_the_bundle_evaluation(pool):
    _, _, trained, client = pool
    router = trained.router
    assert router.name == "mllmcl-micro-router" and router.version == "1" and not router.reused
    router_version = client.get_model_version("mllmcl-micro-router", "1")
    assert router_version.tags["experts"] == "RS:1,Fin:1"
    router_run = client.get_run(router_version.run_id)
    assert router_run.data.tags["mllmcl.key"] == router.key
    assert "router_spec.json" in {a.path for a in client.list_artifacts(router_run.info.run_id)}
    # How well it routes is measured once, by the bundle's evaluation, and tagged on the router.
    [evaluation] = client.search_runs(
        [router_run.info.experiment_id], "tags.`mllmcl.kind` = 'evaluation'"
    )
    metrics = evaluation.data.metrics
    assert metrics["router_accuracy"] == pytest.approx(trained.evaluation.router_accuracy)
    assert {"router_accuracy.RS", "router_accuracy.Fin", "accuracy.RS"} <= set(metrics)
    assert router_version.tags["router_accuracy"] == f"{trained.evaluation.router_accuracy:.2f}"


def test_a_rerun_trains_registers_and_evaluates_nothing_again(pool):
    _, settings, trained, client = pool
    again = train_router("micro", ["RS", "Fin"])
    assert all(e.reused for e in again.experts) and again.router.reused
    assert again.experts[0].folder == router_expert_folder(settings, "RS")
    assert again.evaluation == trained.evaluation
    assert len(client.search_model_versions("name = 'mllmcl-micro-expert-RS'")) == 1
    assert len(client.search_model_versions("name = 'mllmcl-micro-router'")) == 1
    experiment = client.get_experiment_by_name("mllmcl-micro").experiment_id
    assert len(client.search_runs([experiment], "tags.`mllmcl.kind` = 'evaluation'")) == 1


def test_predict_answers_with_the_registry_or_with_adapter_folders(pool):
    home, settings, _, _ = pool
    row = load_split(settings.data_dir, "micro", "Fin", "test")[0]
    image = home / "question.png"
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
