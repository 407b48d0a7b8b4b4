"""The base job: the configured Hugging Face LLaVA as it is, or the tiny CPU base, built and
pretrained once per config inside a tracked run (loss curve, system metrics) and registered."""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor

from components.models.base import TINY, BaseRef, base_ref, ensure_tiny_base, tiny_base_folder
from components.registry.models import (
    MlflowLossCallback,
    base_model_name,
    find_version,
    register_tiny_base,
    tiny_base_tags,
    tracked_run,
)
from components.registry.tracking import configure_tracking
from components.settings import Settings


def run_base_job(settings: Settings) -> BaseRef:
    if settings.base_model != TINY:
        return base_ref(settings.base_model)
    configure_tracking(settings)
    if (tiny_base_folder(settings.models_dir, settings.tiny) / "config.json").is_file():
        build = ensure_tiny_base(settings.models_dir, settings.tiny)
        if find_version(base_model_name(), tiny_base_tags(build)) is not None:
            return build.ref
        return build_and_register(settings)  # built before, not yet in this registry
    # Pretrained in a fresh process: its memory and its torch threads go when it ends, so the
    # pipeline's trainings do not share the cores with them (see TORCH_ON_ONE_THREAD).
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(build_and_register, settings).result()


def build_and_register(settings: Settings) -> BaseRef:
    """Build (unless built) and register the tiny base, in a run of its own."""
    configure_tracking(settings)
    digest = settings.tiny.digest()
    with tracked_run("mllmcl-base", f"tiny-base-{digest}", "base", settings):
        build = ensure_tiny_base(
            settings.models_dir, settings.tiny, callbacks=[MlflowLossCallback()]
        )
        register_tiny_base(build)
    return build.ref
