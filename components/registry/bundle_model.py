"""Logging a routed bundle (router + experts + the tiny base, or a reference to a large base) as
an MLflow pyfunc model from code, and registering it as `mllmcl-<benchmark>-bundle`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from importlib.metadata import version as installed
from pathlib import Path
from typing import Any

import mlflow
from mlflow import MlflowClient
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException
from mlflow.models import ModelSignature
from mlflow.types import ColSpec, Schema

from components.models.mrlora.prototypes import router_kind
from components.models.mrlora.spec import save_spec
from components.registry.bundle import EXPERT_PREFIX, BundleParts
from components.registry.models import (
    bundle_description,
    bundle_model_name,
    describe_registered_model,
)
from components.settings import Settings

COMPONENTS = Path(__file__).resolve().parents[1]
PYFUNC_FILE = Path(__file__).with_name("bundle_pyfunc.py")  # run by MLflow, not imported
SIGNATURE = ModelSignature(
    inputs=Schema([ColSpec("string", "image"), ColSpec("string", "question")]),
    outputs=Schema(
        [
            ColSpec("string", "answer"),
            ColSpec("string", "expert"),
            ColSpec("string", "letter"),
            ColSpec("double", "confidence"),
            ColSpec("boolean", "low_confidence"),
            ColSpec("string", "notes"),
        ]
    ),
)
REQUIREMENTS = ("mlflow", "torch", "transformers", "peft", "pandas", "pillow", "pydantic")


def register_bundle(
    benchmark: str,
    parts: BundleParts,
    settings: Settings,
    tiny_base: bool,
    tags: Mapping[str, str],
    description: str,
) -> ModelVersion:
    """Into the active run: the bundle as a pyfunc model (its files copied in, so a version stays
    servable whatever happens to the local models folder), registered with `tags`."""
    save_spec(parts.spec, parts.router)  # the router folder names its pool (older ones lack it)
    artifacts = {"router": str(parts.router)}
    artifacts |= {f"{EXPERT_PREFIX}{task}": str(folder) for task, folder in parts.experts.items()}
    config = {
        "decoding": settings.router_decoding,
        "confidence_floor": settings.confidence_floor(router_kind(parts.router)),
        "dtype": settings.dtype,
        "device": settings.device,
    }
    if tiny_base:
        artifacts["base"] = parts.base.name_or_path
    else:
        config["base"] = parts.base.name_or_path
    info = mlflow.pyfunc.log_model(
        name="bundle",
        python_model=str(PYFUNC_FILE),
        artifacts=artifacts,
        model_config=config,
        code_paths=[str(COMPONENTS)],
        signature=SIGNATURE,
        pip_requirements=[f"{name}=={installed(name)}" for name in REQUIREMENTS],
    )
    name = bundle_model_name(benchmark)
    describe_registered_model(name, bundle_description(benchmark, settings.gates.model_dump()))
    registered = mlflow.register_model(info.model_uri, name, tags=dict(tags))
    MlflowClient().update_model_version(name, registered.version, description=description)
    return MlflowClient().get_model_version(name, registered.version)


@dataclass
class ServedBundle:
    """A registered bundle loaded to serve: its python model, whose predict checks every row and
    names row and field (MLflow's generic schema check in front of it would refuse some rows
    with the request's data in the message), and the MLflow version it speaks for."""

    model: Any
    mlflow_version: str


def load_served_bundle(uri: str) -> ServedBundle:
    """The bundle at a `models:/` URI, or a ValueError saying why it cannot be served."""
    try:
        loaded = mlflow.pyfunc.load_model(uri)
    except MlflowException as error:
        raise ValueError(f"cannot load {uri}: {error.message}") from None
    model = loaded.unwrap_python_model()
    if not hasattr(model, "limits"):
        raise ValueError(
            f"cannot serve {uri}: this version was registered before served bundles checked "
            "their requests: register it again (mllmcl retrain) to serve it"
        )
    return ServedBundle(model=model, mlflow_version=mlflow.__version__)
