"""The base job: the configured Hugging Face LLaVA as it is, or the tiny CPU base: the registered
build of its config (downloaded if this machine lacks it), else the shipped build of its config
or one built and pretrained now, inside a tracked run (loss curves, system metrics, held-out
accuracy), and registered. `rebuild` pretrains it from nothing whatever exists."""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor

from components.jobs.job import Job
from components.models.base.build import build_tiny_base, ensure_tiny_base, tiny_base_folder
from components.models.base.loading import TINY, BaseRef, base_ref
from components.registry.models import (
    find_version,
    register_tiny_base,
    registered_tiny_base,
    tiny_base_tags,
)
from components.registry.tracker import Tracker

BASE_EXPERIMENT = "mllmcl-base"


class BaseJob(Job[BaseRef]):
    rebuild: bool = False
    command: str = ""  # recorded with a new build: how it was asked for

    @property
    def title(self) -> str:
        return f"tiny-base-{self.key()}"

    @property
    def experiment(self) -> str:
        return BASE_EXPERIMENT

    def key(self) -> str:
        return self.settings.tiny.digest()

    def _built(self) -> bool:
        folder = tiny_base_folder(self.settings.models_dir, self.settings.tiny)
        return (folder / "config.json").is_file()

    def find(self, tracker: Tracker) -> BaseRef | None:
        if self.rebuild:
            return None
        if self.settings.base_model != TINY:
            return base_ref(self.settings.base_model)
        if not self._built():
            return registered_tiny_base(self.settings.models_dir, self.settings.tiny)
        build = ensure_tiny_base(self.settings.models_dir, self.settings.tiny)
        return build.ref if find_version(*tiny_base_tags(build)) else None

    def work(self, tracker: Tracker) -> BaseRef:
        if self._built() and not self.rebuild:  # built here before, not yet in this registry
            return self.build_and_register()
        # Pretrained in a fresh process: its memory and its torch threads go when it ends, so the
        # pipeline's trainings do not share the cores with them (see TORCH_ON_ONE_THREAD).
        with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
            return pool.submit(self.build_and_register).result()

    def build_and_register(self) -> BaseRef:
        """Build (unless built) and register the tiny base, in a run of its own."""
        tracker = Tracker(self.settings, self.experiment, self.scope.parent_run_id)
        folder = tiny_base_folder(self.settings.models_dir, self.settings.tiny)
        about = "The tiny base built (its vision tower, then its language model) and registered."
        with tracker.run(self.title, "base", self.key(), about):
            language = [tracker.loss_callback("train/")]
            vision = [tracker.loss_callback("tower/")]
            if self.rebuild:
                build = build_tiny_base(
                    folder,
                    self.settings.tiny,
                    callbacks=language,
                    tower_callbacks=vision,
                    command=self.command,
                )
            else:
                build = ensure_tiny_base(
                    self.settings.models_dir,
                    self.settings.tiny,
                    callbacks=language,
                    tower_callbacks=vision,
                )
            register_tiny_base(build)
        return build.ref
