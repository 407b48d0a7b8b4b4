"""Preparation steps without Prefect: rollback on failure, and the committed data version."""

import json
import shutil
from pathlib import Path

import pytest
import yaml

import components.data.prepare as prepare_module
from components.data.generator.writer import generate_benchmark
from components.data.prepare import build_staged, commit_staged
from components.data.source import fingerprint_source, plan_source
from components.data.tasks import TRACK_ORDER
from components.data.validation import validate_source
from components.data.versioning import data_version
from tests.helpers import edit_records, prepare_without_prefect, tree_digest

REPO = Path(__file__).resolve().parents[1]


def test_failed_versioning_restores_the_previous_version(
    home, settings, micro_domain, tmp_path, monkeypatch
):
    prepare_without_prefect(micro_domain, "micro", settings)
    before = tree_digest(home / "data"), (home / "data.dvc").read_text()

    changed = tmp_path / "changed"
    shutil.copytree(micro_domain, changed)
    edit_records(changed / "RS" / "test.json", lambda r: r[0].__setitem__("answer", "42"))
    plan = plan_source(changed, tasks=["RS", "Med"])
    validated = validate_source(plan, 20, 0, settings.max_image_pixels)
    staged = build_staged(
        validated, fingerprint_source(plan), "micro", plan.track, settings, progress=False
    )
    assert staged.built == ["RS"] and staged.unchanged == ["Med"]

    def broken_dvc(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(prepare_module, "commit_data", broken_dvc)
    with pytest.raises(RuntimeError, match="disk full"):
        commit_staged(staged, settings)
    assert (tree_digest(home / "data"), (home / "data.dvc").read_text()) == before
    assert not (settings.staging_dir / "runs" / "micro").exists()  # no staging left behind


def test_a_crash_mid_swap_is_undone_by_the_next_run(
    home, settings, micro_domain, tmp_path, monkeypatch
):
    prepare_without_prefect(micro_domain, "micro", settings, tasks=["RS"])
    before = tree_digest(home / "data"), (home / "data.dvc").read_text()
    plan = plan_source(micro_domain, tasks=["RS", "Med"])
    validated = validate_source(plan, 20, 0, settings.max_image_pixels)
    staged = build_staged(
        validated, fingerprint_source(plan), "micro", plan.track, settings, progress=False
    )

    def killed(*args, **kwargs):
        raise KeyboardInterrupt

    # Simulate a crash: the swap happened, the rollback did not run.
    monkeypatch.setattr(prepare_module, "commit_data", killed)
    monkeypatch.setattr(prepare_module, "restore_interrupted", lambda *a: None)
    with pytest.raises(KeyboardInterrupt):
        commit_staged(staged, settings)
    assert (home / "data" / "micro" / "Med").is_dir()
    monkeypatch.undo()
    prepare_module.restore_interrupted(settings, "micro")
    assert (tree_digest(home / "data"), (home / "data.dvc").read_text()) == before


def test_generation_and_preparation_reproduce_the_committed_version(home, settings, tmp_path):
    """The data.dvc committed in the repo is what `make demo` produces: both tracks, in order."""
    committed = data_version(REPO / "data.dvc")
    assert committed is not None
    for track in TRACK_ORDER:
        source = tmp_path / "sources" / track
        generate_benchmark(track, source, preset="default", progress=False)
        prepared = prepare_without_prefect(source, track, settings)
    assert prepared.version == committed
    outs = yaml.safe_load((REPO / "data.dvc").read_text())["outs"][0]
    assert outs["nfiles"] == len(list((home / "data").rglob("*.*")))
    manifest = json.loads((home / "data" / "domain" / "manifest.json").read_text())
    assert [t["spec"]["name"] for t in manifest["tasks"]] == ["RS", "Med", "AD", "Sci", "Fin"]
