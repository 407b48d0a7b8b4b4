"""What a job sees of the worker it runs on: the resources its cluster gave it, the torch threads
that follow from them, and tags that say how it ran."""

from __future__ import annotations

import sys

import torch


def _ray_resources() -> dict[str, float] | None:
    """The resources Ray assigned to the task running here; None outside a Ray worker."""
    ray = sys.modules.get("ray")  # a Ray worker has imported it; nothing else needs to
    if ray is None or not ray.is_initialized():
        return None
    context = ray.get_runtime_context()
    if context.worker.mode != ray.WORKER_MODE:
        return None  # the driver
    return dict(context.get_assigned_resources())


def follow_assigned_cpus() -> None:
    """In a Ray worker, torch runs as many threads as the CPUs the task was given (a reused
    worker keeps the thread count of the task before, whatever OMP_NUM_THREADS says now)."""
    resources = _ray_resources()
    if resources is not None:
        torch.set_num_threads(max(1, int(resources.get("CPU", 1))))


def placement_tags() -> dict[str, str]:
    """How a job ran: the runner, what it was given, torch's threads (every run also names its
    host and process: components/registry/tracking.py, owner_tags)."""
    resources = _ray_resources()
    tags = {
        "mllmcl.runner": "local" if resources is None else "ray",
        "mllmcl.torch_threads": str(torch.get_num_threads()),
    }
    if resources is not None:
        tags |= {f"mllmcl.ray.{name.lower()}": f"{value:g}" for name, value in resources.items()}
    return tags
