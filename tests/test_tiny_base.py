"""The tiny base's build record, and the shipped base: taken only for its own config, only when
its files hash to what its record says, and never half-copied."""

from __future__ import annotations

from pathlib import Path

import pytest

from components.models.base.build import (
    SHIPPED,
    copy_shipped,
    ensure_tiny_base,
    read_build_record,
    ship,
    shipped_build,
    tiny_base_folder,
)
from components.models.base.config import TinyBaseConfig
from components.models.base.loading import folder_digest


def test_a_build_records_how_it_was_made(tiny_base):
    record = read_build_record(Path(tiny_base.ref.name_or_path))
    assert record is not None and record.config == tiny_base.config
    assert record.digest == tiny_base.ref.digest == folder_digest(Path(tiny_base.ref.name_or_path))
    assert record.seconds > 0 and record.parameters == tiny_base.parameters
    assert {"all", "objects", "text", "chart", "panels"} <= set(record.held_out)
    assert all(0 <= v <= 1 for v in record.held_out.values())


def test_the_shipped_base_is_taken_for_its_config_only(tiny_base, tmp_path):
    shipped = tmp_path / "shipped"
    ship(Path(tiny_base.ref.name_or_path), shipped)
    assert shipped_build(tiny_base.config, shipped) is not None
    assert shipped_build(tiny_base.config.model_copy(update={"seed": 1}), shipped) is None
    taken = ensure_tiny_base(tmp_path / "models", tiny_base.config, shipped=shipped)
    assert not taken.built and taken.ref.digest == tiny_base.ref.digest
    assert taken.held_out == read_build_record(shipped).held_out


def test_a_shipped_base_whose_files_changed_is_refused(tiny_base, tmp_path):
    shipped = tmp_path / "shipped"
    ship(Path(tiny_base.ref.name_or_path), shipped)
    weights = shipped / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-1] + b"\0")
    record = shipped_build(tiny_base.config, shipped)
    models = tmp_path / "models"
    with pytest.raises(ValueError, match=r"shipped.*hash to .*records"):
        copy_shipped(tiny_base_folder(models, tiny_base.config), record, shipped)
    assert not models.exists() or not any(models.iterdir())


def test_only_a_built_base_can_be_shipped(tmp_path):
    (tmp_path / "model").mkdir()
    with pytest.raises(ValueError, match=r"build\.json"):
        ship(tmp_path / "model", tmp_path / "shipped")
    assert not (tmp_path / "shipped").exists()


def test_the_repository_ships_the_default_config_intact():
    record = shipped_build(TinyBaseConfig())
    assert record is not None, "the shipped base is not a build of the default TinyBaseConfig"
    assert folder_digest(SHIPPED) == record.digest
    size = sum(p.stat().st_size for p in SHIPPED.iterdir())
    assert size < 25 * 2**20


@pytest.mark.integration
def test_build_tiny_pretrains_from_nothing_and_registers(prefect_server, tmp_path, monkeypatch):
    from mlflow import MlflowClient
    from typer.testing import CliRunner

    from cli.main import app
    from components.settings import get_settings
    from tests.conftest import MICRO_TINY_ENV, project_home

    with project_home(tmp_path, monkeypatch, MICRO_TINY_ENV):
        first = CliRunner().invoke(app, ["base", "build-tiny"])
        assert first.exit_code == 0, first.output
        assert "held-out mixture questions: all" in first.output
        again = CliRunner().invoke(app, ["base", "build-tiny"])  # from nothing again
        assert again.exit_code == 0, again.output
        client = MlflowClient(get_settings().resolved_tracking_uri)
        versions = client.search_model_versions("name = 'mllmcl-base-tiny'")
        assert len(versions) == 2
        run = client.get_run(versions[0].run_id)
        assert "held_out_accuracy.all" in run.data.metrics
        assert any(k.startswith("tower/") for k in run.data.metrics)
        record = read_build_record(tiny_base_folder(get_settings().models_dir, get_settings().tiny))
        assert record is not None and record.command == "mllmcl base build-tiny"


def test_only_the_default_config_is_shipped(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from cli.main import app
    from tests.conftest import MICRO_TINY_ENV, project_home

    with project_home(tmp_path, monkeypatch, MICRO_TINY_ENV) as home:
        refused = CliRunner().invoke(app, ["base", "build-tiny", "--ship"])
        assert refused.exit_code == 2
        assert "only a build of the default tiny config is shipped" in refused.output
        assert not (home / "models").exists()
    assert shipped_build(TinyBaseConfig()) is not None  # the shipped base untouched
