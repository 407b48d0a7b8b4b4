"""One adapter trained by several Ray Train workers, data-parallel: Ray Train's TorchTrainer
starts the workers and their process group (NCCL on GPUs, gloo on CPUs), and each worker runs
the same training code as a local job; the Hugging Face Trainer finds the process group and
trains under DistributedDataParallel, each worker on its shard of every batch.

The lead worker (rank 0) does what needs the trained adapter once (an expert's Oracle score),
then reports the adapter folder as the run's checkpoint; Ray Train persists it under `storage`
(which every node must reach), and it is copied from there to its final folder. A worker that
dies fails the run; Ray Train restarts it `job_retries` times, from the start."""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel

from components.cluster.settings import ClusterSettings
from components.cluster.worker import follow_assigned_cpus

Outcome = TypeVar("Outcome", bound=BaseModel)
# work(folder, lead): trains the adapter into `folder`; the lead also does what is done once
Work = Callable[[Path, bool], Outcome]
_OUTCOME = "outcome"
_WORK = "work"


def _worker_loop(config: dict[str, Any]) -> None:
    import ray.train

    follow_assigned_cpus()
    lead = ray.train.get_context().get_world_rank() == 0
    with tempfile.TemporaryDirectory(prefix="mllmcl-train-") as scratch:
        folder = Path(scratch) / "adapter"
        outcome: BaseModel = config[_WORK](folder, lead)
        # every worker reports once (a barrier); the lead's metrics and folder are the run's
        ray.train.report(
            {_OUTCOME: outcome.model_dump_json()},
            checkpoint=ray.train.Checkpoint.from_directory(folder) if lead else None,
        )


def train_on_workers(
    work: Work[Outcome],
    outcome_type: type[Outcome],
    out: Path,
    cluster: ClusterSettings,
    storage: Path,
) -> Outcome:
    """`work` on `cluster.train_workers` Ray Train workers; the lead's adapter ends up in `out`
    (written whole, then moved into place) and its outcome is returned."""
    from ray.train import FailureConfig, RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer

    use_gpu = cluster.gpus_per_job > 0
    storage = storage.resolve()  # Ray Train takes an absolute path or a URI
    name = f"{out.name}-{uuid.uuid4().hex[:8]}"
    trainer = TorchTrainer(
        _worker_loop,
        train_loop_config={_WORK: work},
        scaling_config=ScalingConfig(
            num_workers=cluster.train_workers,
            use_gpu=use_gpu,
            resources_per_worker={"CPU": cluster.cpus_per_job}
            | ({"GPU": cluster.gpus_per_job} if use_gpu else {}),
        ),
        run_config=RunConfig(
            name=name,
            storage_path=str(storage),
            failure_config=FailureConfig(max_failures=cluster.job_retries),
        ),
    )
    try:
        result = trainer.fit()
        if result.checkpoint is None or not result.metrics:
            raise RuntimeError(f"Ray Train run {name} ended without the lead worker's adapter")
        partial = out.with_name(out.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        with result.checkpoint.as_directory() as folder:
            shutil.copytree(folder, partial)
        shutil.rmtree(out, ignore_errors=True)
        partial.rename(out)
    finally:
        shutil.rmtree(storage / name, ignore_errors=True)
    return outcome_type.model_validate_json(result.metrics[_OUTCOME])  # checked above
