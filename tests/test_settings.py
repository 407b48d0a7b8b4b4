from pathlib import Path

import pytest

from components.settings import Settings, find_home


def test_home_is_the_checkout_holding_prefect_yaml(tmp_path):
    (tmp_path / "prefect.yaml").write_text("name: x\n")
    nested = tmp_path / "a" / "b"
    nested.mkdir(parents=True)
    assert find_home(nested) == tmp_path.resolve()
    assert find_home(tmp_path.parent) == tmp_path.parent.resolve()  # none above: the folder itself


def test_paths_default_under_home(settings, home):
    assert settings.home == home.resolve()
    assert settings.data_dir == home / "data"
    assert settings.dvc_file == home / "data.dvc"
    assert settings.dvc_remote == str(home / "dvc-remote")
    assert settings.resolved_tracking_uri == f"sqlite:///{home / 'mlflow' / 'mlflow.db'}"


def test_environment_over_yaml_over_defaults(home, monkeypatch):
    (home / "mllmcl.yaml").write_text("replay_per_task: 7\nseed: 3\n")
    assert Settings().replay_per_task == 7
    monkeypatch.setenv("MLLMCL_REPLAY_PER_TASK", "9")
    assert Settings().replay_per_task == 9
    assert Settings().seed == 3
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5000")
    settings = Settings()
    assert settings.resolved_tracking_uri == "http://127.0.0.1:5000"
    # read once: mlflow.set_tracking_uri rewrites the variable for the rest of the process, and
    # a job's settings travel to workers whose variable may name another store
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:////elsewhere.db")
    assert settings.resolved_tracking_uri == "http://127.0.0.1:5000"


def test_each_router_kind_has_its_own_confidence_floor(home, monkeypatch):
    settings = Settings()
    assert settings.confidence_floor("mllm") == settings.mllm_confidence_floor == 0.9
    assert settings.confidence_floor("prototype") == settings.prototype_confidence_floor == 0.5
    monkeypatch.setenv("MLLMCL_PROTOTYPE_CONFIDENCE_FLOOR", "0.7")
    assert Settings().confidence_floor("prototype") == 0.7
    assert Settings().confidence_floor("mllm") == 0.9
    monkeypatch.setenv("MLLMCL_MLLM_CONFIDENCE_FLOOR", "1.5")
    with pytest.raises(ValueError, match="mllm_confidence_floor"):
        Settings()


def test_explicit_config_file_and_unknown_keys(home, tmp_path, monkeypatch):
    config = tmp_path / "other.yaml"
    config.write_text("dvc_remote: s3://bucket/mllmcl\n")
    monkeypatch.setenv("MLLMCL_CONFIG", str(config))
    assert Settings().dvc_remote == "s3://bucket/mllmcl"
    config.write_text("not_a_setting: 1\n")
    with pytest.raises(ValueError, match="not_a_setting"):
        Settings()
    monkeypatch.setenv("MLLMCL_CONFIG", str(tmp_path / "missing.yaml"))
    with pytest.raises(FileNotFoundError, match=r"missing\.yaml"):
        Settings()


def test_relative_home_is_resolved(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLLMCL_HOME", "project")
    assert Settings().home == Path(tmp_path / "project").resolve()
