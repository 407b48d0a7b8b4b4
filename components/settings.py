"""One settings object for the whole pipeline: `MLLMCL_*` environment variables over an optional
YAML file over defaults. Paths default to places under the project home."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import Field, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

from components.cluster.settings import ClusterSettings
from components.models.base.config import TinyBaseConfig
from components.models.lora.settings import PresetName
from components.models.mrlora.settings import DEFAULT_TEMPLATE, Decoding, RouterKind
from components.registry.gates import GateThresholds
from components.serving.limits import ServingLimits

HOME_MARKER = "prefect.yaml"
CONFIG_FILE_NAME = "mllmcl.yaml"


def find_home(start: Path | None = None) -> Path:
    """The checkout enclosing `start` (the folder holding prefect.yaml), else `start` itself."""
    start = (start or Path.cwd()).resolve()
    for folder in (start, *start.parents):
        if (folder / HOME_MARKER).is_file():
            return folder
    return start


def _home_from_env() -> Path:
    explicit = os.environ.get("MLLMCL_HOME")
    return Path(explicit).expanduser().resolve() if explicit else find_home()


def config_file() -> Path | None:
    """The YAML config: `MLLMCL_CONFIG` if set, else `<home>/mllmcl.yaml` when it exists."""
    explicit = os.environ.get("MLLMCL_CONFIG")
    if explicit:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"MLLMCL_CONFIG points to {path}, which is not a file")
        return path
    default = _home_from_env() / CONFIG_FILE_NAME
    return default if default.is_file() else None


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="MLLMCL_", env_nested_delimiter="__", extra="forbid"
    )

    home: Path = Field(default_factory=_home_from_env, description="project home")
    data_dir: Path = Field(description="prepared, DVC-versioned data (default home/data)")
    sources_dir: Path = Field(
        description="benchmark sources in the MLLM-CL layout, one folder each (home/sources)"
    )
    staging_dir: Path = Field(description="scratch space for atomic preparation")
    dvc_remote: str = Field(description="DVC remote URL or path (default home/dvc-remote)")
    tracking_uri: str | None = Field(
        None,
        description="MLflow tracking URI; MLFLOW_TRACKING_URI, when set, wins "
        "(default sqlite:///home/mlflow/mlflow.db)",
    )
    artifact_root: Path = Field(description="MLflow artifact root for the sqlite store")
    models_dir: Path = Field(description="built bases and trained adapters (home/models)")
    base_model: str = Field(
        "tiny", description="'tiny' (built here, CPU) or any HF LLaVA folder or hub id"
    )
    tiny: TinyBaseConfig = Field(default_factory=TinyBaseConfig, description="the tiny base")
    dtype: str = Field("auto", description="auto (bf16 on GPU, fp32 on CPU) or a torch dtype name")
    device: str = Field("auto", description="auto, cpu, cuda, cuda:1, ...")
    expert_preset: PresetName = Field("cpu", description="official (the paper's) or cpu")
    router_preset: PresetName = Field("cpu", description="official (the paper's) or cpu")
    router_kind: RouterKind = Field(
        "mllm",
        description="mllm (the paper's: the base with its own LoRA answers an expert's letter) or "
        "prototype (training-free: a head on the base's own features; docs/method.md)",
    )
    router_template: str = Field(DEFAULT_TEMPLATE, description="the MLLM router's prompt")
    router_decoding: Decoding = Field(
        "constrained", description="the MLLM router's: constrained or official"
    )
    # The two kinds' confidences live on different scales (docs/method.md): the MLLM router's
    # letter, trained for many epochs, is near-certain on its own tasks; the prototype head's
    # L2-penalised softmax is not.
    mllm_confidence_floor: float = Field(
        0.9,
        ge=0,
        le=1,
        description="an MLLM router's routing whose letter has a lower probability among the "
        "pool's letters is marked low-confidence (counted per task by evaluations, flagged by "
        "the served bundle)",
    )
    prototype_confidence_floor: float = Field(
        0.5,
        ge=0,
        le=1,
        description="a prototype router's routing whose task has a lower probability under its "
        "head is marked low-confidence",
    )
    replay_per_task: int = Field(20, ge=1, description="router replay samples per task")
    ewc_strength: float = Field(
        1e3, gt=0, description="lambda of the ewc baseline's penalty (docs/method.md)"
    )
    fisher_samples: int = Field(
        64, ge=1, description="training samples per task the ewc baseline's Fisher is taken on"
    )
    olora_orthogonality: float = Field(
        0.5, ge=0, description="lambda of the o-lora baseline's orthogonality loss (docs/method.md)"
    )
    moelora_experts: int = Field(
        4, ge=1, description="LoRA experts per layer of the moelora baseline (divides the rank)"
    )
    gates: GateThresholds = Field(
        default_factory=GateThresholds, description="promotion gates (docs/operations.md)"
    )
    reports_dir: Path = Field(description="benchmark reports (home/reports)")
    log_file: Path | None = Field(
        None, description="where this process's library output goes; logged to its pipeline runs"
    )
    seed: int = Field(0, description="seed for every sampled choice")
    train_seed: int = Field(
        0, ge=0, description="seed every adapter trains from (benchmark --seeds M runs 0..M-1)"
    )
    max_image_pixels: int = Field(
        89_478_485, ge=1, description="images larger than this are rejected (decompression bombs)"
    )
    lock_timeout_s: float = Field(
        3600.0, ge=0, description="how long a run waits for another run of its benchmark"
    )
    cluster: ClusterSettings = Field(
        default_factory=ClusterSettings, description="where jobs run (docs/scale-out.md)"
    )
    serve: ServingLimits = Field(
        default_factory=ServingLimits, description="limits on the requests of a served bundle"
    )

    @model_validator(mode="before")
    @classmethod
    def _place_in_home(cls, data: Any) -> Any:
        """Folders left unset are placed in the home; MLflow's own variable is read now, so the
        settings name their store wherever they travel (mlflow.set_tracking_uri changes that
        variable for the rest of the process, and a Ray worker may serve other settings)."""
        if not isinstance(data, dict):
            return data
        if os.environ.get("MLFLOW_TRACKING_URI"):
            data = {**data, "tracking_uri": os.environ["MLFLOW_TRACKING_URI"]}
        home = Path(data.get("home") or _home_from_env()).expanduser().resolve()
        defaults = {
            "data_dir": home / "data",
            "sources_dir": home / "sources",
            "reports_dir": home / "reports",
            "staging_dir": home / ".mllmcl-staging",
            "dvc_remote": str(home / "dvc-remote"),
            "artifact_root": home / "mlflow" / "artifacts",
            "models_dir": home / "models",
        }
        unset = {key: value for key, value in defaults.items() if data.get(key) is None}
        return {**data, "home": home, **unset}

    @property
    def resolved_tracking_uri(self) -> str:
        """The setting, else the embedded sqlite store."""
        return self.tracking_uri or f"sqlite:///{self.home / 'mlflow' / 'mlflow.db'}"

    def confidence_floor(self, kind: RouterKind) -> float:
        """The floor under which a routing of this router kind is low-confidence."""
        return self.mllm_confidence_floor if kind == "mllm" else self.prototype_confidence_floor

    @property
    def dvc_file(self) -> Path:
        return self.data_dir.with_suffix(".dvc")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: tuple[PydanticBaseSettingsSource, ...] = (init_settings, env_settings)
        yaml_path = config_file()
        if yaml_path is not None:
            sources += (YamlConfigSettingsSource(settings_cls, yaml_file=yaml_path),)
        return sources


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings; tests clear the cache after changing the environment."""
    return Settings()
