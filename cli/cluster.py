"""`mllmcl cluster`: a Ray head, an MLflow tracking server and a Prefect server on this machine,
for trying scale-out before a real cluster (docs/scale-out.md)."""

from __future__ import annotations

from typing import Annotated

import typer

from cli.output import console, errors
from components.cluster.local_cluster import ENV_FILE, Ports, down, up
from components.settings import get_settings

cluster_app = typer.Typer(no_args_is_help=True, help="A local cluster: Ray, MLflow, Prefect.")


@cluster_app.command("up")
def cluster_up(
    cpus: Annotated[int | None, typer.Option(help="CPUs Ray offers (default: all)")] = None,
    gpus: Annotated[int | None, typer.Option(help="GPUs Ray offers (default: found)")] = None,
    ray_port: int = 6379,
    dashboard_port: int = 8265,
    mlflow_port: int = 5000,
    prefect_port: int = 4200,
) -> None:
    """Start the three services on 127.0.0.1 and write the variables that point the pipeline's
    settings at them."""
    home = get_settings().home
    ports = Ports(ray=ray_port, dashboard=dashboard_port, mlflow=mlflow_port, prefect=prefect_port)
    with console.status("starting Ray, MLflow and Prefect ..."):
        try:
            cluster = up(home, ports, cpus, gpus)
        except RuntimeError as error:
            errors.print(f"[red]{error}[/]")
            raise typer.Exit(1) from None
    console.print(
        f"Ray head: {cluster.ray_address} (dashboard {cluster.dashboard}; "
        "it asks for the token in ~/.ray/auth_token)"
    )
    console.print(f"MLflow tracking server: {cluster.mlflow_uri}")
    console.print(f"Prefect server: {cluster.services['prefect'].url}")
    console.print(f"point a shell at them: source {cluster.folder / ENV_FILE}")


@cluster_app.command("down")
def cluster_down() -> None:
    """Stop this home's local cluster (its stores stay for the next `up`)."""
    stopped = down(get_settings().home)
    console.print(f"stopped: {', '.join(stopped)}" if stopped else "no cluster was running")
