"""What every flow builds on: jobs run as Prefect task runs (each named after its job) on the
configured task runner (the flow's own thread, or Ray with each job's declared resources), the
base MLLM (the configured Hugging Face LLaVA, or the tiny CPU base built once per config and
registered), and the prepared benchmark the jobs are given."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import Any, Generic, ParamSpec, Protocol, TypeVar, cast

from prefect import Flow, Task, flow, task
from prefect.cache_policies import NO_CACHE
from prefect.context import FlowRunContext, TaskRunContext
from prefect.settings import get_current_settings
from prefect.task_runners import ThreadPoolTaskRunner

from components.cluster.ray_connection import connect
from components.cluster.settings import Reservation
from components.cluster.worker import follow_assigned_cpus
from components.data.build import Manifest, prepared_manifest
from components.jobs.base_model import BaseJob
from components.jobs.job import BenchmarkScope, Job, Scope
from components.models.base.loading import BaseRef
from components.settings import get_settings

Result = TypeVar("Result")
Value = TypeVar("Value", covariant=True)
P = ParamSpec("P")
F = TypeVar("F", bound=Flow[Any, Any])


@task(name="job", task_run_name="{job.title}", cache_policy=NO_CACHE)
def _job(job: Job[Any]) -> Any:
    follow_assigned_cpus()
    return job.run()


def _declared_resources(reservation: Reservation) -> AbstractContextManager[Any]:
    """What Ray reserves for the tasks submitted in this context."""
    cluster = get_settings().cluster
    if cluster.runner != "ray":
        return nullcontext()
    from prefect_ray.context import remote_options

    return remote_options(
        num_cpus=reservation.cpus,
        num_gpus=reservation.gpus,
        max_retries=cluster.job_retries,  # a rerun finds nothing kept, so it does the work again
    )


class Started(Protocol[Value]):
    def result(self) -> Value: ...


class Done(Generic[Result]):
    """Work that ran when it was started."""

    def __init__(self, value: Result) -> None:
        self.value = value

    def result(self) -> Result:
        return self.value


def _runs_here() -> bool:
    """Whether work started now runs at once, on this thread: outside a flow, under Prefect's
    default thread runner (threads of one process take turns anyway, and slow each other down:
    see TORCH_ON_ONE_THREAD in components/models/lora/training.py), and inside a task run (a Ray
    task that submitted more would hold its resources while they wait for theirs)."""
    context = FlowRunContext.get()
    return (
        context is None
        or isinstance(context.task_runner, ThreadPoolTaskRunner)
        or TaskRunContext.get() is not None
    )


def start(
    work: Task[P, Result], reservation: Reservation, *args: P.args, **kwargs: P.kwargs
) -> Started[Result]:
    """`work` as a Prefect task run: submitted to the flow's task runner (Ray: holding
    `reservation`), or run at once where work runs here (`_runs_here`)."""
    if _runs_here():
        return Done(work(*args, **kwargs))
    with _declared_resources(reservation):
        return work.submit(*args, **kwargs)


class PrefectRunner:
    """Each job a Prefect task run: what its key holds in the registry, else its work (the job
    decides; Prefect keeps no cache of its own)."""

    def run(self, job: Job[Result]) -> Result:
        return self.run_all([job])[0]

    def run_all(self, jobs: Sequence[Job[Result]]) -> list[Result]:
        """On a cluster they run in parallel, each holding its reservation; else one after the
        other, here."""
        started = [start(_job, job.reservation(), job) for job in jobs]
        return [cast(Result, s.result()) for s in started]


RUNNER = PrefectRunner()


def on_cluster(subflow: F) -> F:
    """The flow on the configured task runner: Prefect's default (the flow's own thread), or Ray
    (this process connected to the cluster once, each job a Ray task)."""
    cluster = get_settings().cluster
    if cluster.runner != "ray":
        return subflow
    from prefect_ray.task_runners import RayTaskRunner

    if not get_current_settings().api.url:
        raise RuntimeError(
            "the ray runner needs a Prefect server its workers reach (Prefect's ephemeral mode "
            "lives in this process only): set PREFECT_API_URL, or run `mllmcl cluster up`"
        )
    connect(cluster)
    return cast(F, subflow.with_options(task_runner=RayTaskRunner()))


def ensure_base() -> BaseRef:
    return RUNNER.run(BaseJob(scope=Scope(settings=get_settings())))


@flow(name="build-base")
def build_base(command: str = "mllmcl base build-tiny") -> BaseRef:
    """Pretrain the tiny base from nothing and register it."""
    settings = get_settings()
    return RUNNER.run(BaseJob(scope=Scope(settings=settings), rebuild=True, command=command))


def prepared(benchmark: str) -> Manifest:
    return prepared_manifest(get_settings().data_dir, benchmark)


def benchmark_scope(benchmark: str, parent_run_id: str | None) -> BenchmarkScope:
    """Where the jobs on a prepared benchmark work: its manifest, read once, and the base."""
    return BenchmarkScope(
        settings=get_settings(),
        manifest=prepared(benchmark),
        base=ensure_base(),
        parent_run_id=parent_run_id,
    )
