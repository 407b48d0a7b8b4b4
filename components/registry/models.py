"""MLflow runs and registered versions for models: the tiny base, experts and routers.
A model version's source is the logged folder in Hugging Face / PEFT format (safetensors)."""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import mlflow
from mlflow import MlflowClient
from mlflow.entities import Metric
from mlflow.entities.model_registry import ModelVersion
from transformers import TrainerCallback

from components.models.base.build import TinyBuild, tiny_base_folder
from components.models.base.config import TinyBaseConfig
from components.models.base.loading import BaseRef
from components.models.lora.adapters import AdapterRun
from components.models.mrlora.settings import RouterKind
from components.registry.tracking import (
    KIND_TAG,
    experiment_id,
    owner_tags,
)
from components.settings import Settings


def base_model_name() -> str:
    return "mllmcl-base-tiny"


def expert_model_name(benchmark: str, task: str) -> str:
    return f"mllmcl-{benchmark}-expert-{task}"


def router_model_name(benchmark: str, kind: RouterKind = "mllm") -> str:
    return f"mllmcl-{benchmark}-router" if kind == "mllm" else f"mllmcl-{benchmark}-{kind}-router"


def bundle_model_name(benchmark: str) -> str:
    return f"mllmcl-{benchmark}-bundle"


BASE_DESCRIPTION = (
    "The tiny CPU LLaVA (CLIP vision tower, projector, Llama language model) that the project "
    "pretrains from nothing, so that the whole pipeline runs on a laptop. One version per "
    "build config; tags: `config_digest` (the config), `digest` (the weights)."
)


def expert_description(benchmark: str, task: str) -> str:
    return (
        f"MR-LoRA expert of task {task} ({benchmark} benchmark): a LoRA adapter on the base, "
        f"trained on {task}'s training split alone. A new version when the task's data, the "
        "base or the recipe changes. Tags: `accuracy` (on its own test split, %: its Oracle "
        "figure), `data_version` (the task's data), `base_digest`, `key` (everything it was "
        "trained from, hashed). The card (README.md) beside the adapter tells its recipe."
    )


def router_description(benchmark: str, kind: RouterKind = "mllm") -> str:
    what = {
        "mllm": "a LoRA adapter on the base that answers, for an image and question, the letter "
        "of the expert to route to. Trained on",
        "prototype": "training-free: the base's own features of image and question, each task's "
        "prototype, and a softmax head over the tasks (prototypes.safetensors). Built from",
    }[kind]
    return (
        f"MR-LoRA {kind} router of the {benchmark} benchmark: {what} the replay "
        "samples of every task seen so far; one version per expert pool. Tags: `step` (how many "
        "tasks), `tasks`, `experts` (task:version of each expert it routes to), "
        "`router_accuracy` (share of test items routed to their own task's expert, %)."
    )


def bundle_description(benchmark: str, gates: Mapping[str, Any]) -> str:
    thresholds = ", ".join(f"{key} {value}" for key, value in gates.items())
    return (
        f"MR-LoRA bundle of the {benchmark} benchmark: the router and the experts it routes to, "
        "served as one model (MLflow pyfunc: image + question in; answer, expert and letter "
        "out). Each task arrival or scheduled retrain registers a version and gates it against "
        "the champion.\n\n"
        "Aliases: `champion` (the version that serves), `challenger` (a version that failed a "
        "gate or waits for review: `mllmcl review approve|reject`), `previous-champion` (the "
        "champion before the current one: roll back to it by approving it).\n\n"
        f"Gate thresholds at the latest registration: {thresholds}.\n\n"
        "Each version opens its description with its verdict, then its gate table; tags: "
        "`accuracy.<task>`, `gates`, `gates_passed`, `verdict` (and `verdict.<n>`, every "
        "verdict in order), `new_task`, `experts`, `router_version`, `router_kind` (mllm or "
        "prototype), `data_version`."
    )


def describe_registered_model(name: str, description: str) -> None:
    """The registered model `name`, created if needed, with `description`."""
    client = MlflowClient()
    if not client.search_registered_models(filter_string=f"name = '{name}'"):
        client.create_registered_model(name, description=description)
    elif client.get_registered_model(name).description != description:
        client.update_registered_model(name, description=description)


class MlflowLossCallback(TrainerCallback):
    """Streams the Trainer's logs (loss, learning rate, grad norm) into the run that was active
    when it was made, named `<prefix><name>`. It carries the run and the store, so it logs from
    any process, a Ray Train worker's too; of several training processes only the first logs."""

    def __init__(self, prefix: str = "train/") -> None:
        run = mlflow.active_run()
        if run is None:
            raise RuntimeError("a loss callback logs into a run: make it inside one")
        self.prefix = prefix
        self.run_id = run.info.run_id
        self.tracking_uri = mlflow.get_tracking_uri()

    def on_log(self, args, state, control, logs: Mapping[str, Any] | None = None, **kwargs) -> None:
        numbers = {k: float(v) for k, v in (logs or {}).items() if isinstance(v, int | float)}
        if numbers and state.is_world_process_zero:
            stamp = int(time.time() * 1000)
            MlflowClient(self.tracking_uri).log_batch(
                self.run_id,
                metrics=[
                    Metric(f"{self.prefix}{k}", v, stamp, state.global_step)
                    for k, v in numbers.items()
                ],
            )


@contextmanager
def tracked_run(
    experiment: str,
    run_name: str,
    kind: str,
    settings: Settings,
    parent_run_id: str | None = None,
    tags: Mapping[str, str] | None = None,
) -> Iterator[mlflow.ActiveRun]:
    """A run that records system metrics (CPU/RAM, GPU through nvidia-ml-py when present) and
    wall time, nested under `parent_run_id` (flows run tasks in threads, so it is explicit)."""
    mlflow.set_system_metrics_sampling_interval(1)
    started = time.perf_counter()
    with mlflow.start_run(
        experiment_id=experiment_id(experiment, settings),
        run_name=run_name,
        parent_run_id=parent_run_id,
        log_system_metrics=True,
        tags={KIND_TAG: kind, **owner_tags(), **(tags or {})},
    ) as run:
        yield run
        mlflow.log_metric("wall_seconds", time.perf_counter() - started)


def flat_params(prefix: str, values: Mapping[str, Any]) -> dict[str, Any]:
    """Nested settings as dotted MLflow params."""
    flat: dict[str, Any] = {}
    for key, value in values.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat |= flat_params(f"{name}.", value)
        else:
            flat[name] = value
    return flat


def find_version(name: str, tags: Mapping[str, str]) -> ModelVersion | None:
    """The newest registered version of `name` whose tags include all of `tags`."""
    client = MlflowClient()
    query = f"name = '{name}'"
    versions = client.search_model_versions(query, order_by=["version_number DESC"])
    for version in versions:
        if all(version.tags.get(k) == v for k, v in tags.items()):
            return version
    return None


def register_folder(
    name: str,
    folder: Path,
    artifact_path: str,
    tags: Mapping[str, str],
    description: str,
    model_description: str,
) -> ModelVersion:
    """Log `folder` into the active run and register it as a new version of `name` (the
    registered model described by `model_description`)."""
    run = mlflow.active_run()
    if run is None:
        raise RuntimeError("register_folder needs an active MLflow run")
    mlflow.log_artifacts(str(folder), artifact_path=artifact_path)
    describe_registered_model(name, model_description)
    client = MlflowClient()
    return client.create_model_version(
        name=name,
        source=f"{run.info.artifact_uri}/{artifact_path}",
        run_id=run.info.run_id,
        tags=dict(tags),
        description=description,
    )


def download_version(version: ModelVersion, target: Path) -> Path:
    """A registered version's files, downloaded once into `target`."""
    if not (target / ".complete").is_file():
        target.mkdir(parents=True, exist_ok=True)
        mlflow.artifacts.download_artifacts(artifact_uri=version.source, dst_path=str(target))
        (target / ".complete").write_text(str(version.version))
    folder = target / Path(version.source or "").name
    return folder if folder.is_dir() else target


def log_training(run: AdapterRun, params: Mapping[str, Any]) -> None:
    """Hyper-parameters and the figures of one adapter training, into the active run."""
    mlflow.log_params(flat_params("", params))
    mlflow.log_metrics(
        {
            "train_seconds": run.seconds,
            "train_samples": run.samples,
            "samples_per_second": run.samples_per_second,
            "adapter_bytes": run.adapter_bytes,
            "trainable_parameters": run.trainable_parameters,
            "final_loss": run.losses[-1] if run.losses else float("nan"),
        }
    )


def tiny_base_tags(build: TinyBuild) -> tuple[str, dict[str, str]]:
    """The registered name of a tiny base build, and the tags that identify it."""
    return base_model_name(), {"config_digest": build.config.digest(), "digest": build.ref.digest}


def registered_tiny_base(models_dir: Path, config: TinyBaseConfig) -> BaseRef | None:
    """The newest registered build of this config, its files downloaded into the models folder."""
    version = find_version(base_model_name(), {"config_digest": config.digest()})
    if version is None:
        return None
    folder = download_version(version, tiny_base_folder(models_dir, config))
    return BaseRef(name_or_path=str(folder), digest=version.tags["digest"])


def register_tiny_base(build: TinyBuild) -> ModelVersion:
    """Into the active run: the base's config, pretraining figures and files, registered."""
    mlflow.log_params(flat_params("tiny.", build.config.model_dump()))
    mlflow.log_metrics({"pretrain_seconds": build.seconds, "parameters": build.parameters})
    mlflow.log_metrics({f"held_out_accuracy.{k}": v for k, v in build.held_out.items()})
    name, tags = tiny_base_tags(build)
    return register_folder(
        name,
        Path(build.ref.name_or_path),
        "model",
        tags,
        description=(
            "Tiny LLaVA (CLIP + Llama + projector): its vision tower pretrained on drawn scenes, "
            "then the projector and language model on questions about them (a generic mixture "
            "that holds none of the benchmark tasks)."
        ),
        model_description=BASE_DESCRIPTION,
    )


def tag_version(name: str, version: str, tags: Mapping[str, str]) -> None:
    client = MlflowClient()
    for key, value in tags.items():
        client.set_model_version_tag(name, version, key, value)


def logged_metric(run_id: str, name: str) -> float:
    """The latest value of a metric a run logged."""
    return MlflowClient().get_run(run_id).data.metrics[name]
