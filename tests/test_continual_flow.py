"""The continual loop end to end on the micro preset, with real Prefect, MLflow and DVC: task
arrivals with gates and promotion, a crash and its resumption, an impossible gate, review, and
a benchmark run with its report. Each scenario runs once per module; its steps are tests of
their own, in order, so that one failing step does not hide what the others show."""

import base64
import io
import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import mlflow
import pandas as pd
import pytest
from mlflow import MlflowClient
from typer.testing import CliRunner

from cli.main import app
from components.data.build import load_split
from tests.conftest import MICRO_TINY_ENV, project_home
from tests.helpers import free_port, stop, wait_for_http

pytestmark = pytest.mark.integration

LENIENT_GATES = {
    f"MLLMCL_GATES__{key}": value
    for key, value in {
        "NEW_TASK_FLOOR": "0",
        "NEW_TASK_MARGIN": "-100",
        "ROUTER_FLOOR": "0",
        "OLD_TASK_TOLERANCE": "100",
        "BWT_FLOOR": "-100",
    }.items()
}
BUNDLE = "mllmcl-domain-bundle"
BENCHMARK_METHODS = ["mr-lora", "lora-ft"]


def _settings():
    from components.settings import get_settings

    get_settings.cache_clear()
    return get_settings()


def _aliases(client, name):
    return {alias: str(v) for alias, v in client.get_registered_model(name).aliases.items()}


@pytest.fixture(scope="module")
def loop(prefect_server, tmp_path_factory):
    """A home of its own for the arrival scenario; its steps below share it, in order."""
    with (
        pytest.MonkeyPatch.context() as patch,
        project_home(tmp_path_factory.mktemp("loop"), patch, MICRO_TINY_ENV | LENIENT_GATES),
    ):
        settings = _settings()
        yield patch, MlflowClient(settings.resolved_tracking_uri)


def test_a_first_arrival_is_promoted_with_its_gates_and_data_version(loop, micro_domain):
    from flows import continual

    _, client = loop
    settings = _settings()
    first = continual.on_task_arrival("RS", micro_domain)
    assert first.verdict == "promoted" and first.champion == first.version == "1"
    version = client.get_model_version(BUNDLE, "1")
    assert version.tags["gates_passed"] == "true" and version.tags["new_task"] == "RS"
    assert (
        version.tags["data_version"]
        == (settings.home / "data.dvc").read_text().split("md5: ")[1].split(".dir")[0]
    )
    assert version.tags["gates"] == "5/5 passed"
    assert not any(key.startswith(("gate.", "gate_json.", "learned.")) for key in version.tags)
    assert version.description.startswith("Verdict: 5/5 passed -> champion (promoted by")
    table = version.description.split("```text\n")[1].split("\n```")[0].splitlines()
    assert table[0].split() == ["gate", "value", "threshold", "verdict", "detail"]
    assert [line.split()[0] for line in table[1:]] == [
        "new_task",
        "new_task_gain",
        "router",
        "old_tasks",
        "bwt",
    ]
    assert len({line.index(" pass") for line in table[1:]}) == 1  # one column, aligned
    record = mlflow.artifacts.load_dict(f"runs:/{version.run_id}/gates.json")
    assert record["learned"]["RS"] == pytest.approx(float(version.tags["accuracy.RS"]), abs=0.01)
    assert [g["name"] for g in record["gates"]] == [
        "new_task",
        "new_task_gain",
        "router",
        "old_tasks",
        "bwt",
    ]


def test_a_crash_leaves_the_champion_and_the_rerun_reuses_the_expert(loop, micro_domain):
    from components.jobs.router import RouterJob
    from flows import continual

    patch, client = loop

    def crash(*args, **kwargs):
        raise RuntimeError("injected crash")

    with patch.context() as crashing:
        crashing.setattr(RouterJob, "work", crash)
        with pytest.raises(RuntimeError, match="injected crash"):
            continual.on_task_arrival("Med", micro_domain)
    assert _aliases(client, BUNDLE) == {"champion": "1"}
    assert len(client.search_model_versions("name = 'mllmcl-domain-expert-Med'")) == 1
    second = continual.on_task_arrival("Med", micro_domain)
    assert second.version == "2" and second.verdict == "promoted"
    assert len(client.search_model_versions("name = 'mllmcl-domain-expert-Med'")) == 1
    assert len(client.search_model_versions("name = 'mllmcl-domain-expert-RS'")) == 1
    assert _aliases(client, BUNDLE) == {"champion": "2", "previous-champion": "1"}
    assert client.get_model_version(BUNDLE, "2").tags["experts"] == "RS:1,Med:1"


def test_an_impossible_gate_leaves_a_challenger_and_the_champion(loop, micro_domain):
    from flows import continual

    patch, client = loop
    with patch.context() as strict:
        strict.setenv("MLLMCL_GATES__NEW_TASK_FLOOR", "101")
        _settings()
        third = continual.on_task_arrival("AD", micro_domain)
    _settings()
    assert third.verdict == "challenger" and third.champion == "2"
    assert _aliases(client, BUNDLE) == {
        "champion": "2",
        "previous-champion": "1",
        "challenger": "3",
    }
    challenger = client.get_model_version(BUNDLE, "3")
    assert challenger.tags["gates"] == "4/5 passed, failed: new_task"
    assert challenger.description.startswith("Verdict: 4/5 passed, failed: new_task -> challenger")


def test_a_reviewer_promotes_over_the_gates_only_with_a_reason(loop):
    _, client = loop
    runner = CliRunner()
    listed = runner.invoke(app, ["review", "list", "--benchmark", "domain"])
    assert listed.exit_code == 0, listed.output
    assert "challenger" in listed.output and "failed" in listed.output
    shown = runner.invoke(app, ["review", "show", "3", "--benchmark", "domain"])
    assert shown.exit_code == 0 and "new_task" in shown.output
    refused = runner.invoke(app, ["review", "approve", "3", "--benchmark", "domain"])
    assert refused.exit_code == 2 and "failed its gates" in refused.output
    assert _aliases(client, BUNDLE)["champion"] == "2"
    forced = ["--force", "--reason", "AD matters more than its floor", "--reviewer", "ana"]
    approved = runner.invoke(app, ["review", "approve", "3", "--benchmark", "domain", *forced])
    assert approved.exit_code == 0, approved.output
    assert _aliases(client, BUNDLE) == {"champion": "3", "previous-champion": "2"}
    history = [client.get_model_version(BUNDLE, "3").tags[f"verdict.{n}"] for n in (1, 2)]
    assert (
        history[0].startswith("challenger by the gates") and "gates failed: new_task" in history[0]
    )
    assert (
        history[1].startswith("approved by ana")
        and "forced over: it failed its gates" in history[1]
    )
    approved_version = client.get_model_version(BUNDLE, "3")
    assert approved_version.tags["gates_passed"] == "false"  # kept
    assert approved_version.description.startswith(
        "Verdict: 4/5 passed, failed: new_task -> champion (approved by ana"
    )
    assert approved_version.description.count("Verdict:") == 1
    rejected = runner.invoke(app, ["review", "reject", "3", "--benchmark", "domain"])
    assert rejected.exit_code != 0 and "champion" in rejected.output


def test_a_scheduled_retrain_trains_nothing_new_and_counts_only_arrived_tasks(loop, micro_domain):
    from flows import continual

    _, client = loop
    retrained = continual.scheduled_retrain("domain", micro_domain)
    assert retrained.version == "4" and retrained.verdict == "promoted"
    assert client.get_model_version(BUNDLE, "4").tags["experts"] == "RS:1,Med:1,AD:1"
    assert len(client.search_model_versions("name = 'mllmcl-domain-router'")) == 3
    for task in ("RS", "Med", "AD"):
        expert = f"name = 'mllmcl-domain-expert-{task}'"
        assert len(client.search_model_versions(expert)) == 1
    # the retrain's run says which jobs it found done, each linked to the run that did it
    experiment = client.get_experiment_by_name("mllmcl-domain").experiment_id
    [run] = client.search_runs([experiment], "attributes.run_name = 'scheduled-retrain'")
    reused = json.loads(mlflow.artifacts.load_text(f"{run.info.artifact_uri}/reused.json"))
    jobs = {entry["job"]: entry["run"] for entry in reused}
    assert {"expert-RS", "expert-Med", "expert-AD", "router-step-3 (AD)"} <= set(jobs)
    assert run.data.tags["mllmcl.reused"] == str(len(reused))
    assert not [key for key in run.data.tags if key.startswith("mllmcl.reused.")]
    origin = client.get_run(jobs["expert-AD"])
    assert origin.info.run_name == "expert-AD" and origin.data.tags["mllmcl.kind"] == "expert"
    note = run.data.tags["mlflow.note.content"]
    assert note.startswith("## Scheduled retrain of RS, Med, AD\n\n`mllmcl-domain-bundle` v4: ")
    assert "```text\ngate" in note
    assert f"- expert-AD: [its run](#/experiments/{experiment}/runs/{origin.info.run_id})" in note


@pytest.fixture(scope="module")
def benchmark(prefect_server, micro_domain, tmp_path_factory):
    """One benchmark run (three tasks; MR-LoRA and LoRA-FT, each in two task orders), in a home
    of its own."""
    from flows.continual import run_benchmark

    with (
        pytest.MonkeyPatch.context() as patch,
        project_home(tmp_path_factory.mktemp("bench"), patch, MICRO_TINY_ENV | LENIENT_GATES),
    ):
        settings = _settings()
        results = run_benchmark(
            "domain", BENCHMARK_METHODS, micro_domain, ["RS", "Med", "Fin"], orders=2
        )
        yield settings, results


def test_the_benchmark_writes_the_matrix_and_the_report(benchmark):
    settings, results = benchmark
    latest = settings.reports_dir / "latest" / "domain"
    data = json.loads((latest / "results.json").read_text())
    for method in BENCHMARK_METHODS:
        assert data[method]["tasks"] == ["RS", "Med", "Fin"]
        assert [len(row) for row in data[method]["matrix"]] == [3, 3, 3]
        matrix = data[method]["matrix"]
        assert data[method]["MFN"] == pytest.approx(sum(matrix[-1]) / 3)
        assert data[method]["BWT"] == pytest.approx(
            (matrix[2][0] - matrix[0][0] + matrix[2][1] - matrix[1][1]) / 2
        )
        main, other = data["runs"][method]
        assert main == data[method]  # the paper's order first
        assert sorted(other["tasks"]) == sorted(main["tasks"]) and other["tasks"] != main["tasks"]
        cost = data[method]["cost"]
        assert cost["train_seconds"] > 0 and cost["trainable_parameters"] > 0
        assert cost["stored_bytes"] > 0 and cost["seconds_per_item"] > 0
    assert len(data["mr-lora"]["router_accuracy"]) == 3
    assert len(data["runs"]["mr-lora"][1]["router_accuracy"]) == 3
    # MR-LoRA keeps an expert per task and a router; LoRA-FT one adapter
    assert data["mr-lora"]["cost"]["stored_bytes"] > data["lora-ft"]["cost"]["stored_bytes"]
    assert set(data["oracle"]) == set(data["zero_shot"]) == {"RS", "Med", "Fin"}
    assert {"mr-lora: RS arrives", "lora-ft", "zero-shot"} <= set(data["timings"])
    report = (latest / "report.md").read_text()
    assert "| Zero-shot |" in report and "| mr-lora (2 runs) |" in report and "| Oracle |" in report
    assert " ± " in report and "## Cost" in report and "## Where each method forgets" in report
    for png in ("matrix-mr-lora.png", "matrix-lora-ft.png", "forgetting.png"):
        assert (latest / png).read_bytes().startswith(b"\x89PNG")
    assert results.champion is not None
    # both router kinds routed the main run's experts at every step, side by side
    mllm, prototype = data["routers"]
    assert (mllm["kind"], mllm["configured"]) == ("mllm", True)
    assert (prototype["kind"], prototype["configured"]) == ("prototype", False)
    assert mllm["accuracy"] == pytest.approx(data["mr-lora"]["router_accuracy"])
    for kind in (mllm, prototype):
        assert len(kind["accuracy"]) == len(kind["low_confidence"]) == len(kind["confusion"]) == 3
        for step, confusion in enumerate(kind["confusion"], start=1):
            assert list(confusion) == ["RS", "Med", "Fin"][:step]  # the seen tasks' items
            right = sum(confusion[t].get(t, 0) for t in confusion)
            items = sum(sum(c.values()) for c in confusion.values())
            assert kind["accuracy"][step - 1] == pytest.approx(100 * right / items)
        assert set(kind["final"]) == {"RS", "Med", "Fin"} and kind["seconds_per_item"] > 0
        assert kind["build_seconds"] > 0
    final = dict(zip(data["tasks"], data["mr-lora"]["matrix"][-1], strict=True))
    assert mllm["final"] == pytest.approx(final)
    assert "## Router kinds on the same experts" in report and "| prototype |" in report
    assert (latest / "router-confusion.png").read_bytes().startswith(b"\x89PNG")
    every_track = (latest.parent / "report.md").read_text()
    assert "## domain" in every_track and "| mr-lora (2 runs) |" in every_track
    assert "(domain/report.md)" in every_track


def test_the_pipeline_run_holds_the_metrics_curves_and_report(benchmark):
    settings, _ = benchmark
    data = json.loads((settings.reports_dir / "latest" / "domain" / "results.json").read_text())
    client = MlflowClient(settings.resolved_tracking_uri)
    [pipeline] = client.search_runs(
        [client.get_experiment_by_name("mllmcl-domain").experiment_id],
        "tags.`mllmcl.kind` = 'pipeline'",
    )
    assert pipeline.info.status == "FINISHED"
    assert {"mr-lora.BWT", "lora-ft.FWT", "lora-ft.BWT.sd", "mr-lora.cost.train_seconds"} <= set(
        pipeline.data.metrics
    )
    for kind in ("mllm", "prototype"):
        curve = client.get_metric_history(pipeline.info.run_id, f"router.{kind}.accuracy")
        assert [m.step for m in curve] == [1, 2, 3]
        assert f"router.{kind}.seconds_per_item" in pipeline.data.metrics
    # only the arrivals in the track's order registered bundles; the other order's did not
    assert len(client.search_model_versions(f"name = '{BUNDLE}'")) == 3
    # LoRA-FT's first step in each order is that task's expert, trained and registered once
    firsts = client.search_runs(
        [pipeline.info.experiment_id], "attributes.run_name = 'lora-ft-step-1'"
    )
    assert len(firsts) == 2
    assert all(r.data.tags["expert"].startswith("mllmcl-domain-expert-") for r in firsts)
    for task in ("RS", "Med", "Fin"):
        assert len(client.search_model_versions(f"name = 'mllmcl-domain-expert-{task}'")) == 1
    history = client.get_metric_history(pipeline.info.run_id, "lora-ft.accuracy.RS")
    assert [m.step for m in history] == [1, 2, 3]
    assert [m.value for m in history] == [row[0] for row in data["lora-ft"]["matrix"]]
    assert {a.path for a in client.list_artifacts(pipeline.info.run_id, "report")} >= {
        "report/results.json",
        "report/report.md",
    }


def test_mlflow_reads_back_as_a_run_tree_with_inputs_tables_and_a_readable_registry(benchmark):
    """What the MLflow UI shows, read back through MlflowClient after the micro benchmark."""
    settings, results = benchmark
    client = MlflowClient(settings.resolved_tracking_uri)
    experiment = client.get_experiment_by_name("mllmcl-domain")
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"
    runs = client.search_runs([experiment.experiment_id], max_results=1000)
    by_name = {r.info.run_name: r for r in runs}
    [pipeline] = [r for r in runs if r.data.tags["mllmcl.kind"] == "pipeline"]
    [prepare] = [r for r in runs if r.data.tags["mllmcl.kind"] == "prepare"]
    version = prepare.data.tags["mllmcl.data_version"]
    # the pipeline run: params, lineage and code tags, a description with the table and metrics
    params = pipeline.data.params
    assert params["tasks"] == "RS,Med,Fin" and params["methods"] == "mr-lora,lora-ft"
    assert params["orders"] == "2" and params["expert_preset"] == "cpu"
    assert float(params["gates.router_floor"]) == 0.0
    assert pipeline.data.tags["mllmcl.data_version"] == version
    assert pipeline.data.tags["mllmcl.prepare_run"] == prepare.info.run_id
    assert pipeline.data.tags["mllmcl.code_version"].startswith("0.1.0")
    note = pipeline.data.tags["mlflow.note.content"]
    table = note.split("```text\n")[1].split("\n```")[0].splitlines()
    assert table[0].split()[:4] == ["Method", "RS", "Med", "Fin"]
    assert table[1].startswith("Zero-shot") and table[-1].startswith("Oracle")
    assert all(f"- **{metric}**: " in note for metric in ("MFT", "MFN", "MAA", "BWT", "FWT"))
    # every job's run says what it did
    assert all(
        r.data.tags.get("mlflow.note.content") for r in runs if r.data.tags.get("mllmcl.key")
    )
    # every step's runs named and tagged with their step and newest task (and router kind)
    kinds = {"router": "router", "evaluation": "evaluate", "bundle": "bundle"}
    steps = [r for r in runs if r.data.tags["mllmcl.kind"] in kinds]
    assert len(steps) >= 15  # the main run's three steps: two routers and two evaluations each
    for run in steps:
        tags = run.data.tags
        prefix, by = kinds[tags["mllmcl.kind"]], ""
        if tags.get("router_kind") == "prototype" and prefix == "router":
            prefix = "prototype-router"
        elif tags.get("router_kind") == "prototype":
            by = ", prototype router"
        assert run.info.run_name == f"{prefix}-step-{tags['step']} ({tags['task']}{by})"
    prototype_evaluation = by_name["evaluate-step-3 (Fin, prototype router)"]
    prototype = next(k for k in results.routers if k.kind == "prototype")
    assert prototype_evaluation.data.metrics["router_accuracy"] == pytest.approx(
        prototype.accuracy[-1]
    )

    # data lineage: the splits each run used, the same dataset entities as the preparation's
    def inputs(run):
        return {
            (d.dataset.name, d.dataset.digest, t.value)
            for d in run.inputs.dataset_inputs
            for t in d.tags
            if t.key == "mlflow.data.context"
        }

    for run in runs:
        tags = run.data.tags
        if tags["mllmcl.kind"] == "expert":
            task = tags["task"]
            assert inputs(run) == {
                (f"domain/{task}/train", version, "training"),
                (f"domain/{task}/test", version, "evaluation"),
            }
        elif tags["mllmcl.kind"] == "router":
            pool = [e.split(":")[0] for e in tags["experts"].split(",")]
            assert inputs(run) == {(f"domain/{t}/router", version, "training") for t in pool}
        elif tags["mllmcl.kind"] in ("evaluation", "zero-shot"):
            assert inputs(run) == {
                (f"domain/{t}/test", version, "evaluation") for t in ("RS", "Med", "Fin")
            }
    # predictions as tables, one file name per task in every evaluation run
    evaluation = by_name["evaluate-step-3 (Fin)"]
    table = client.load_table(
        experiment.experiment_id, "predictions/Fin.json", [evaluation.info.run_id]
    )
    assert {"question_id", "prompt", "gold", "prediction", "correct", "expert"} <= set(table)
    assert table["confidence"].between(0, 1).all()
    unsure = 100 * (table["confidence"] < 0.5).mean()
    assert evaluation.data.metrics["low_confidence.Fin"] == pytest.approx(unsure)
    if evaluation.data.metrics["router_mistakes"]:  # each one listed, with both experts
        mistakes = client.load_table(
            experiment.experiment_id, "routing/mistakes.json", [evaluation.info.run_id]
        )
        assert len(mistakes) == evaluation.data.metrics["router_mistakes"]
        assert (mistakes["right_expert"] != mistakes["chosen_expert"]).all()
    assert table["correct"].mean() * 100 == pytest.approx(evaluation.data.metrics["accuracy.Fin"])
    for name in ("zero-shot", "lora-ft-step-2"):
        run_id = by_name[name].info.run_id
        assert "gold" in client.load_table(
            experiment.experiment_id, "predictions/RS.json", [run_id]
        )
    # no run names a path of this machine
    assert not [
        (r.info.run_name, k, v) for r in runs for k, v in r.data.params.items() if v.startswith("/")
    ]
    # the registry: every model described, the adapters' cards written by the project
    for model in client.search_registered_models():
        assert len(model.description) > 100, model.name
    [expert_version] = client.search_model_versions("name = 'mllmcl-domain-expert-Med'")
    assert float(expert_version.tags["accuracy"]) == pytest.approx(results.oracle["Med"], abs=0.01)
    card = mlflow.artifacts.load_text(f"{expert_version.source}/README.md")
    assert "More Information Needed" not in card and "| data_version |" in card
    assert "| test_accuracy |" in card and "| base | tiny-base-" in card
    bundle = client.get_model_version(BUNDLE, "3")
    assert bundle.description.startswith("Verdict: 5/5 passed -> champion")
    assert len(bundle.tags) <= 18
    # the report displays in the artifact view: one HTML page, its plots inline
    page = mlflow.artifacts.load_text(f"{pipeline.info.artifact_uri}/report/report.html")
    assert page.count('src="data:image/png;base64,') == 4 and "<table>" in page


def test_the_served_champion_answers_as_the_registered_model_does(benchmark):
    settings, _ = benchmark
    rows = []
    for task, encode in (("RS", "data-uri"), ("Fin", "base64")):
        item = load_split(settings.data_dir, "domain", task, "test")[0]
        buffer = io.BytesIO()
        item["image"].save(buffer, format="PNG")
        encoded = base64.b64encode(buffer.getvalue()).decode()
        rows.append(
            [f"data:image/png;base64,{encoded}" if encode == "data-uri" else encoded, item["text"]]
        )
    mlflow.set_tracking_uri(settings.resolved_tracking_uri)
    local = mlflow.pyfunc.load_model("models:/mllmcl-domain-bundle@champion")
    expected = local.predict(pd.DataFrame(rows, columns=["image", "question"]))
    port = free_port()
    mllmcl = str(Path(sys.executable).with_name("mllmcl"))
    server = subprocess.Popen(
        [mllmcl, "serve", "--benchmark", "domain", "--port", str(port)],
        env=os.environ.copy(),
        start_new_session=True,
    )
    try:
        wait_for_http(f"http://127.0.0.1:{port}/ping", 180, server)
        body = {"dataframe_split": {"columns": ["image", "question"], "data": rows}}
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/invocations",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=120) as response:
            served = json.loads(response.read())["predictions"]
    finally:
        stop(server)
    assert [p["expert"] for p in served] == list(expected["expert"])
    assert [p["answer"] for p in served] == list(expected["answer"])
    assert all(p["expert"] in {"RS", "Med", "Fin"} for p in served)
