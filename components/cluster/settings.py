"""Where jobs run: the local runner (the flow's own thread) or a Ray cluster, what each job
reserves there, and on how many Ray Train workers one expert trains."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

RunnerName = Literal["local", "ray"]


class Reservation(BaseModel):
    """What Ray holds for one job while it runs."""

    model_config = ConfigDict(frozen=True)

    cpus: float
    gpus: float


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
    train_workers: int = Field(
        1,
        ge=1,
        description="Ray Train workers (each with cpus_per_job and gpus_per_job) that train one "
        "expert together, data-parallel; 1: the expert's job trains it alone",
    )

    @model_validator(mode="after")
    def _train_workers_need_ray(self) -> ClusterSettings:
        if self.train_workers > 1 and self.runner != "ray":
            raise ValueError(
                f"train_workers = {self.train_workers} needs runner = 'ray' (Ray Train runs "
                "the workers): set MLLMCL_CLUSTER__RUNNER=ray, or train_workers to 1"
            )
        return self

    @property
    def per_job(self) -> Reservation:
        return Reservation(cpus=self.cpus_per_job, gpus=self.gpus_per_job)
