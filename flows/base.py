"""Make the base MLLM available: the configured Hugging Face LLaVA as it is, or the tiny CPU base,
built and pretrained once per config and registered in MLflow."""

from __future__ import annotations

from prefect import flow, task

from components.models.base import TINY, BaseRef, base_ref, ensure_tiny_base
from components.registry.models import register_tiny_base
from components.settings import get_settings


@task(name="ensure-base")
def ensure_base() -> BaseRef:
    settings = get_settings()
    if settings.base_model != TINY:
        return base_ref(settings.base_model)
    build = ensure_tiny_base(settings.models_dir, settings.tiny)
    register_tiny_base(build, settings)
    return build.ref


@flow(name="build-base")
def build_base() -> BaseRef:
    return ensure_base()
