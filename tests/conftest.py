"""Test homes: every test that touches the pipeline's state gets its own project home, MLflow
store, DVC repo and remote; Prefect runs against a temporary server with its own home."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import pytest

_PREFECT_HOME = tempfile.mkdtemp(prefix="mllmcl-prefect-")
os.environ.update(
    {
        "PREFECT_HOME": _PREFECT_HOME,
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_LOGGING_LEVEL": "WARNING",
        "DVC_NO_ANALYTICS": "1",
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_DISABLE_PROGRESS_BARS": "1",
        "GIT_PYTHON_REFRESH": "quiet",
    }
)
os.environ.pop("MLFLOW_TRACKING_URI", None)

from components.data.generator.writer import generate_benchmark  # noqa: E402
from components.settings import Settings, get_settings  # noqa: E402


@contextmanager
def project_home(
    root: Path, patch: pytest.MonkeyPatch, env: Mapping[str, str] = {}
) -> Iterator[Path]:
    """A fresh project home (not a git checkout) under `root`, the settings pointing into it,
    with `env` set (`MLLMCL_*` variables) until the context ends."""
    project = root / "home"
    project.mkdir()
    (project / "prefect.yaml").write_text("name: test\n")
    with within_home(project, patch, env):
        yield project


@contextmanager
def within_home(
    project: Path, patch: pytest.MonkeyPatch, env: Mapping[str, str] = {}
) -> Iterator[Path]:
    """The settings pointing into an existing project home, with `env` set, until the context
    ends (nothing of another home's store left in the environment)."""
    patch.setenv("MLLMCL_HOME", str(project))
    for name in ("MLLMCL_CONFIG", "MLLMCL_DATA_DIR", "MLLMCL_TRACKING_URI", "MLFLOW_TRACKING_URI"):
        patch.delenv(name, raising=False)
    for name, value in env.items():
        patch.setenv(name, value)
    get_settings.cache_clear()
    yield project
    get_settings.cache_clear()


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    with project_home(tmp_path, monkeypatch) as project:
        yield project


@pytest.fixture
def settings(home: Path) -> Settings:
    return get_settings()


@pytest.fixture(scope="session")
def micro_domain(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The micro domain benchmark, generated once per session (treat as read-only)."""
    out = tmp_path_factory.mktemp("sources") / "domain"
    generate_benchmark("domain", out, preset="micro", progress=False)
    return out


@pytest.fixture(scope="session")
def prefect_server() -> Iterator[None]:
    """A real, temporary Prefect server for the flows under test."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


MICRO_TINY = {
    "tower_samples": 256,
    "tower_epochs": 1,
    "pretrain_samples": 320,
    "pretrain_epochs": 1,
    "pretrain_lr": 2e-3,
    "held_out_questions": 40,
}
MICRO_TINY_ENV = {f"MLLMCL_TINY__{key.upper()}": str(value) for key, value in MICRO_TINY.items()}


@pytest.fixture(scope="session")
def micro_home(tmp_path_factory: pytest.TempPathFactory, micro_domain: Path) -> Path:
    """A session home with the micro domain benchmark prepared (benchmark name 'micro')."""
    from tests.helpers import prepare_without_prefect

    project = tmp_path_factory.mktemp("micro-home")
    (project / "prefect.yaml").write_text("name: test\n")
    prepare_without_prefect(micro_domain, "micro", Settings(home=project))
    return project


@pytest.fixture(scope="session")
def tiny_base(tmp_path_factory: pytest.TempPathFactory):
    """A tiny LLaVA built with a micro pretraining budget (seconds), shared by the model tests."""
    from components.models.base.build import ensure_tiny_base
    from components.models.base.config import TinyBaseConfig

    build = ensure_tiny_base(
        tmp_path_factory.mktemp("models"), TinyBaseConfig(**MICRO_TINY), progress=False
    )
    return build


@pytest.fixture(scope="session")
def two_experts_and_router(tiny_base, micro_home, tmp_path_factory):
    """RS and Fin experts and a router between them (visually distinct tasks: a planted case)."""
    from components.data.build import load_split, read_manifest
    from components.models.lora.settings import ROUTER_PRESETS, TrainSettings
    from components.models.mrlora.replay import routing_samples
    from components.models.mrlora.router_depth import train_router
    from components.models.mrlora.spec import router_spec
    from components.models.samples import training_samples
    from tests.helpers import ONE_EPOCH_EXPERT, train_micro_expert

    root = tmp_path_factory.mktemp("adapters")
    experts = {
        task: train_micro_expert(micro_home, task, tiny_base, root / task, ONE_EPOCH_EXPERT).folder
        for task in ("RS", "Fin")
    }
    manifest = read_manifest(micro_home / "data" / "micro")
    spec = router_spec([manifest.task("RS").spec, manifest.task("Fin").spec])
    replay = {
        t: training_samples(load_split(micro_home / "data", "micro", t, "router")) for t in experts
    }
    train = TrainSettings(epochs=8, learning_rate=3e-3, batch_size=8, warmup_ratio=0.05)
    router = train_router(
        tiny_base.ref.name_or_path,
        routing_samples(spec, replay),
        ROUTER_PRESETS["cpu"].model_copy(update={"train": train}),
        root / "router",
        progress=False,
    )
    return experts, router.folder, spec
