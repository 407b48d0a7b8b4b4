"""Where jobs run: today's local runner (the flow's own thread) or a Ray cluster."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

RunnerName = Literal["local", "ray"]


class ClusterSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    runner: RunnerName = Field(
        "local", description="local (one after another on the flow's thread) or ray"
    )
    address: str | None = Field(
        None,
        description="a running Ray cluster ('auto', 'ray://head:10001', 'host:6379'); "
        "unset: a local one started on demand",
    )
    local_cpus: int | None = Field(
        None, ge=1, description="CPUs of a local Ray started on demand (default: all)"
    )
    cpus_per_job: float = Field(
        1.0, gt=0, description="CPUs Ray reserves for each job (an expert, the router, ...)"
    )
    gpus_per_job: float = Field(0.0, ge=0, description="GPUs Ray reserves for each job")
    job_retries: int = Field(
        2, ge=0, description="how often Ray reruns a job whose worker died (a lost node, OOM)"
    )
