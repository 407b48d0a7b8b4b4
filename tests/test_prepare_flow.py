"""The prepare flow for real: Prefect (temporary server), MLflow (sqlite), DVC (local remote)."""

import json
import shutil
from pathlib import Path

import mlflow
import pytest
from typer.testing import CliRunner

from cli.main import app
from components.data.build import load_split, read_manifest
from components.data.generator.writer import generate_benchmark
from components.data.problems import SourceValidationError
from components.data.versioning import data_status, data_version
from flows.prepare import prepare_data
from tests.helpers import edit_records, tree_digest

pytestmark = pytest.mark.integration


def _corrupt_copy(source: Path, target: Path) -> Path:
    shutil.copytree(source, target)
    (target / "Med" / "images" / "test_00002.png").unlink()
    edit_records(target / "AD" / "test.json", lambda r: r[0].__setitem__("image", "../RS/x.png"))
    edit_records(target / "Fin" / "train.json", lambda r: r[1].__setitem__("id", r[0]["id"]))
    return target


def test_prepare_flow_end_to_end(prefect_server, home, settings, micro_domain, tmp_path):
    # A first task pair arrives, then the rest of the track.
    first = prepare_data(source=micro_domain, benchmark="micro", tasks=["RS", "Med"])["prepared"]
    assert first.built == ["RS", "Med"]
    result = prepare_data(source=micro_domain, benchmark="micro", track="domain")
    prepared = result["prepared"]
    assert prepared.built == ["AD", "Sci", "Fin"] and prepared.unchanged == ["RS", "Med"]
    assert prepared.version != first.version
    assert prepared.version == data_version(home / "data.dvc")

    manifest = read_manifest(home / "data" / "micro")
    assert [t.spec.name for t in manifest.tasks] == ["RS", "Med", "AD", "Sci", "Fin"]
    assert [t.spec.scorer for t in manifest.tasks] == ["ai2d", "pvqa", "ai2d", "sci", "finvis"]
    counts = {"train": 24, "test": 12, "router": 20, "replay": 20}
    assert all(t.counts == counts for t in manifest.tasks)
    assert manifest.task("Med").sources == {
        "train": "Med/train.json",
        "test": "Med/test.json",
        "router": "task5Router_train20.json (letter C)",
        "replay": "task5replay20_train.json",
    }
    test_split = load_split(home / "data", "micro", "Sci", "test")
    assert test_split[0]["image"].size == (64, 64)
    assert test_split[0]["image_file"].startswith("images/")

    # DVC: the workspace matches the version, and the remote holds it.
    assert data_status(home, home / "data") == {}
    assert data_status(home, home / "data", remote=True) == {}

    # MLflow: the preparation run with every split as a dataset input, digest = data version.
    mlflow.set_tracking_uri(settings.resolved_tracking_uri)
    run = mlflow.get_run(result["mlflow_run_id"])
    assert run.data.tags["mllmcl.data_version"] == prepared.version
    assert run.data.params["tasks"] == "RS,Med,AD,Sci,Fin"
    inputs = run.inputs.dataset_inputs
    assert len(inputs) == 20
    assert {i.dataset.digest for i in inputs} == {prepared.version}
    assert {i.dataset.name for i in inputs} >= {"micro/RS/train", "micro/Fin/router"}
    assert run.data.params["Med.router_from"] == "task5Router_train20.json (letter C)"
    assert mlflow.MlflowClient().list_artifacts(run.info.run_id)[0].path == "manifest.json"

    # Unchanged input: a no-op returning the same version and the same run.
    again = prepare_data(source=micro_domain, benchmark="micro", track="domain")
    assert again["prepared"].version == prepared.version
    assert again["prepared"].built == []
    assert again["mlflow_run_id"] == result["mlflow_run_id"]

    # A corrupted copy: every problem named, nothing written.
    before = tree_digest(home / "data"), (home / "data.dvc").read_text()
    corrupt = _corrupt_copy(micro_domain, tmp_path / "corrupt")
    with pytest.raises(SourceValidationError) as caught:
        prepare_data(source=corrupt, benchmark="micro", track="domain")
    problems = [str(p) for p in caught.value.problems]
    assert any("Med/test.json: record Med-test-00002: field image" in p for p in problems)
    assert any("AD/test.json: record AD-test-00000: field image" in p for p in problems)
    assert any("Fin/train.json: record Fin-train-00000: field id: duplicate" in p for p in problems)
    assert (tree_digest(home / "data"), (home / "data.dvc").read_text()) == before

    # The command line says the same, one line per problem, with a non-zero exit code.
    cli = CliRunner().invoke(
        app, ["prepare", "--source", str(corrupt), "--benchmark", "micro", "--track", "domain"]
    )
    assert cli.exit_code == 2
    assert "3 problem(s)" in cli.output
    assert "record Fin-train-00000: field id: duplicate id" in cli.output
    assert (tree_digest(home / "data"), (home / "data.dvc").read_text()) == before


def _router_ids(root: Path, file: str, letter: str) -> list[str]:
    records = json.loads((root / file).read_text())
    return [r["id"] for r in records if r["conversations"][1]["value"] == letter]


def test_cli_prepares_the_official_layout_of_both_tracks(
    prefect_server, home, micro_domain, tmp_path
):
    ability = tmp_path / "Ability_data"
    generate_benchmark("ability", ability, preset="micro", progress=False)
    (ability / "VP_test").rename(ability / "CV-Benchv2")  # a name of the official scripts
    declared = json.loads((ability / "benchmark.json").read_text())
    declared["tasks"][2]["test"] = "CV-Benchv2/test.json"
    (ability / "benchmark.json").write_text(json.dumps(declared))
    for source, benchmark in ((micro_domain, "dom"), (ability, "abi")):
        cli = CliRunner().invoke(
            app, ["prepare", "--source", str(source), "--benchmark", benchmark]
        )
        assert cli.exit_code == 0, cli.output
        assert "data version" in cli.output
    assert load_split(home / "data", "dom", "RS", "router")["id"] == _router_ids(
        micro_domain, "task5Router_train20.json", "E"
    )
    assert load_split(home / "data", "abi", "VP", "router")["id"] == _router_ids(
        ability, "Router_train20.json", "B"
    )
    manifest = read_manifest(home / "data" / "abi")
    assert manifest.track == "ability"
    assert manifest.task("VP").sources["test"] == "CV-Benchv2/test.json"
    assert all(t.counts["test"] == 12 for t in manifest.tasks)
