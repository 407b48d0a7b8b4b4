"""Task arrival as a Prefect event: `mllmcl.task.arrived` on the resource `mllmcl.task.<name>`,
with the task, its source and the benchmark in the payload. The `task-arrival` deployment's
trigger (prefect.yaml) turns each event into a flow run."""

from __future__ import annotations

from pathlib import Path

from prefect.events import emit_event
from prefect.settings import PREFECT_API_URL

ARRIVED = "mllmcl.task.arrived"


def server_configured() -> bool:
    return bool(PREFECT_API_URL.value())


def emit_task_arrival(task: str, source: Path, benchmark: str) -> str:
    event = emit_event(
        event=ARRIVED,
        resource={"prefect.resource.id": f"mllmcl.task.{task}", "prefect.resource.name": task},
        payload={"task": task, "source": str(source), "benchmark": benchmark},
    )
    if event is None:
        raise RuntimeError("Prefect did not emit the event: is the server reachable?")
    return str(event.id)
