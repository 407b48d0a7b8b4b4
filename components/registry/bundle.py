"""Resolving the parts of a routed bundle from the registry: a router version (a given one, else
the champion bundle's, else the newest), the expert versions it routes to, and the base."""

from __future__ import annotations

from pathlib import Path
from typing import cast

import mlflow
from mlflow import MlflowClient
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException
from pydantic import BaseModel

from components.models.base.build import tiny_base_folder
from components.models.base.loading import TINY, BaseRef, base_ref
from components.models.lora.adapters import adapter_folder
from components.models.mrlora.settings import RouterKind
from components.models.mrlora.spec import RouterSpec, load_spec
from components.registry.adapters import KEY_TAG, on_disk
from components.registry.models import (
    bundle_model_name,
    download_version,
    expert_model_name,
    router_model_name,
)
from components.registry.promotion import CHAMPION
from components.registry.tracking import configure_tracking
from components.settings import Settings

ROUTER_VERSION_TAG = "router_version"
ROUTER_KIND_TAG = "router_kind"  # a bundle version's router: mllm (registered before: untagged)
EXPERT_PREFIX = "expert-"  # a bundle model's artifact per expert: expert-<task>


class BundleParts(BaseModel):
    base: BaseRef
    router: Path
    router_version: str
    experts: dict[str, Path]
    expert_versions: dict[str, str]
    spec: RouterSpec


def router_version(benchmark: str, kind: RouterKind, version: str | None = None) -> ModelVersion:
    """A given version of the `kind` router, else the champion bundle's router (of its own
    kind), else the newest of `kind`."""
    client = MlflowClient()
    name = router_model_name(benchmark, kind)
    if version is not None:
        return client.get_model_version(name, version)
    try:
        champion = client.get_model_version_by_alias(bundle_model_name(benchmark), CHAMPION)
        champion_kind = cast(RouterKind, champion.tags.get(ROUTER_KIND_TAG, "mllm"))
        return client.get_model_version(
            router_model_name(benchmark, champion_kind), champion.tags[ROUTER_VERSION_TAG]
        )
    except MlflowException:
        versions = client.search_model_versions(
            f"name = '{name}'", order_by=["version_number DESC"]
        )
        if not versions:
            raise LookupError(
                f"no router is registered for {benchmark!r}: train one first"
            ) from None
        return versions[0]


def _local(version: ModelVersion, folder: Path) -> Path:
    if on_disk(folder):
        return folder
    return download_version(version, folder)


def configured_base(settings: Settings) -> BaseRef:
    if settings.base_model == TINY:
        return base_ref(str(tiny_base_folder(settings.models_dir, settings.tiny)))
    return base_ref(settings.base_model)


def local_bundle(router: Path, experts: dict[str, Path], settings: Settings) -> BundleParts:
    """A bundle from adapter folders on disk (the router's folder names its expert pool)."""
    spec = load_spec(router)
    missing = [e.task for e in spec.experts if e.task not in experts]
    if missing:
        raise ValueError(
            f"the router at {router} routes to {', '.join(missing)} too: give "
            "--expert TASK=PATH for each"
        )
    return BundleParts(
        base=configured_base(settings),
        router=router,
        router_version="local",
        experts={e.task: experts[e.task] for e in spec.experts},
        expert_versions={e.task: "local" for e in spec.experts},
        spec=spec,
    )


def resolve_bundle(benchmark: str, settings: Settings, version: str | None = None) -> BundleParts:
    configure_tracking(settings)
    client = MlflowClient()
    router = router_version(benchmark, settings.router_kind, version)
    spec = RouterSpec.model_validate(
        mlflow.artifacts.load_dict(f"runs:/{router.run_id}/router_spec.json")
    )
    experts, expert_versions = {}, {}
    for item in router.tags["experts"].split(","):
        task, number = item.split(":")
        expert = client.get_model_version(expert_model_name(benchmark, task), number)
        folder = adapter_folder(settings.models_dir, benchmark, expert.tags[KEY_TAG], task)
        experts[task] = _local(expert, folder)
        expert_versions[task] = number
    base = configured_base(settings)
    if base.digest != router.tags.get("base_digest"):
        raise ValueError(
            f"router v{router.version} was trained on base {router.tags.get('base_digest')}, "
            f"but the configured base is {base.digest}"
        )
    return BundleParts(
        base=base,
        router=_local(router, adapter_folder(settings.models_dir, benchmark, router.tags[KEY_TAG])),
        router_version=str(router.version),
        experts=experts,
        expert_versions=expert_versions,
        spec=spec,
    )
