"""`mllmcl arrive`, `mllmcl retrain`, `mllmcl benchmark` and `mllmcl serve`: the continual loop
from the command line. Flows are imported by the commands that run them."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, cast

import typer

from cli.output import console, errors, pipeline_output
from components.data.generator.writer import Preset, generate_benchmark
from components.data.tasks import TRACK_ORDER, Track
from components.evaluation.report import BenchmarkResults, comparison_table, cost_table
from components.locking import Busy
from components.registry.models import bundle_model_name
from components.registry.promotion import CHAMPION
from components.registry.tracking import (
    TrackingServerUnreachable,
    benchmark_experiment,
    experiment_id,
)
from components.settings import get_settings
from components.timing import stage

BUSY_EXIT, UNREACHABLE_EXIT = 3, 4


@contextmanager
def refusing_what_cannot_run() -> Iterator[None]:
    """A run that cannot go ahead says why: another run of the benchmark held it past the lock
    timeout (exit 3), the tracking server does not answer (exit 4)."""
    try:
        yield
    except Busy as error:
        errors.print(f"[red]{error}[/]")
        raise typer.Exit(BUSY_EXIT) from None
    except TrackingServerUnreachable as error:
        errors.print(f"[red]{error}[/]")
        raise typer.Exit(UNREACHABLE_EXIT) from None


def arrive(
    task: Annotated[str, typer.Argument(help="the task's folder name in the source")],
    source: Annotated[Path, typer.Option(help="the benchmark source (MLLM-CL layout)")],
    benchmark: Annotated[str, typer.Option(help="the benchmark it joins")] = "domain",
) -> None:
    """A new task arrives: emit `mllmcl.task.arrived` when a Prefect server is configured (the
    task-arrival deployment runs it), else run the task-arrival flow here."""
    from flows.events import emit_task_arrival, server_configured

    if not (source / task).is_dir():
        errors.print(f"[red]{source / task} is not a folder[/]: the task needs train.json there")
        raise typer.Exit(2)
    if server_configured():
        event = emit_task_arrival(task, source.resolve(), benchmark)
        console.print(f"emitted mllmcl.task.arrived for {task} (event {event})")
        return
    from flows.continual import on_task_arrival
    from flows.jobs import on_cluster

    with refusing_what_cannot_run(), pipeline_output(get_settings().log_file):
        promotion = on_cluster(on_task_arrival)(task, source.resolve(), benchmark)
    _print_promotion(promotion)


def retrain(
    benchmark: Annotated[str, typer.Option(help="the benchmark to retrain")] = "domain",
    source: Annotated[Path | None, typer.Option(help="default: sources/<benchmark>")] = None,
) -> None:
    """Re-prepare the sources, retrain what changed, evaluate, gate and promote."""
    from flows.continual import scheduled_retrain
    from flows.jobs import on_cluster

    with refusing_what_cannot_run(), pipeline_output(get_settings().log_file):
        promotion = on_cluster(scheduled_retrain)(benchmark, source)
    _print_promotion(promotion)


def _print_promotion(promotion) -> None:
    for gate in promotion.gates:
        console.print(f"  gate {gate.name}: {gate.summary()}")
    console.print(
        f"{promotion.name} v{promotion.version}: {promotion.verdict}; "
        f"champion: v{promotion.champion}"
    )


def run_and_print_benchmark(
    track: str, methods: list[str], preset: str | None, orders: int = 1, seeds: int = 1
) -> None:
    """One track through the methods (each over `orders` task orders x `seeds` seeds), its
    tables and where to look next printed."""
    from flows.continual import run_benchmark
    from flows.jobs import on_cluster

    settings = get_settings()
    source = settings.sources_dir / track
    with refusing_what_cannot_run(), pipeline_output(settings.log_file):
        if preset is not None:
            with stage(f"generate the {track} track ({preset})"):
                generate_benchmark(
                    cast(Track, track),
                    source,
                    preset=cast(Preset, preset),
                    replay=settings.replay_per_task,
                )
        results: BenchmarkResults = on_cluster(run_benchmark)(
            cast(Track, track), methods, source, orders=orders, seeds=seeds
        )
    latest = settings.reports_dir / "latest"
    champion = (
        f"{bundle_model_name(track)} v{results.champion}"
        if results.champion
        else "none (no bundle has passed its gates)"
    )
    uri = settings.resolved_tracking_uri
    experiment = experiment_id(benchmark_experiment(track), settings)
    # the UI opens on GenAI traces unless the link asks for the model-training view
    runs = f"#/experiments/{experiment}/runs?workflowType=machine_learning"
    if uri.startswith(("http://", "https://")):  # a tracking server is its own UI
        ui = f"{uri.rstrip('/')}/{runs}"
    else:
        ui = f"mlflow ui --backend-store-uri {uri}, then http://127.0.0.1:5000/{runs}"
    console.print(f"\n[bold]{track}[/]\n{comparison_table(results)}\n\n{cost_table(results)}\n")
    console.print(
        f"Report: {latest / track / 'report.md'} (report.html, results.json and plots beside); "
        f"every track: {latest / 'report.md'}\n"
        f"Champion: {champion}\n"
        f"MLflow UI: {ui}"
        + (f"\nServe it: mllmcl serve --benchmark {track}" if results.champion else "")
    )


def benchmark(
    track: Annotated[str, typer.Option(help=f"one of {', '.join(TRACK_ORDER)}")] = "domain",
    methods: Annotated[
        str, typer.Option(help="comma-separated method names (docs/method.md lists them)")
    ] = "mr-lora,lora-ft",
    preset: Annotated[
        str | None, typer.Option(help="generate this preset first (default: use sources/<track>)")
    ] = "default",
    orders: Annotated[
        int, typer.Option(min=1, help="task orders: the track's, then seeded permutations")
    ] = 1,
    seeds: Annotated[int, typer.Option(min=1, help="training seeds 0..M-1 for every order")] = 1,
) -> None:
    """The whole track through MR-LoRA (task by task, with gates and promotion) and the
    baselines, each over the task orders and seeds (mean ± sd where several); writes
    reports/latest/<track>/{results.json,report.md,*.png}."""
    if track not in TRACK_ORDER:
        errors.print(f"[red]unknown track {track!r}[/]; choose one of {', '.join(TRACK_ORDER)}")
        raise typer.Exit(2)
    run_and_print_benchmark(track, methods.split(","), preset, orders, seeds)


def serve(
    benchmark: Annotated[str, typer.Option(help="whose bundle")] = "domain",
    alias: Annotated[str, typer.Option(help="which version: an alias")] = CHAMPION,
    version: Annotated[str | None, typer.Option(help="or a version number")] = None,
    host: Annotated[str, typer.Option()] = "127.0.0.1",
    port: Annotated[int, typer.Option()] = 5001,
) -> None:
    """Serve the bundle over HTTP (MLflow's scoring protocol: POST /invocations with a dataframe
    of image and question). Requests are untrusted: see the MLLMCL_SERVE__* limits."""
    from components.registry.bundle_model import load_served_bundle
    from components.registry.serving_run import serving_run
    from components.registry.tracking import configure_tracking
    from components.serving.app import run_server
    from components.serving.confidence import ConfidenceWindow

    settings = get_settings()
    configure_tracking(settings)
    separator, reference = ("/", version) if version else ("@", alias)
    uri = f"models:/{bundle_model_name(benchmark)}{separator}{reference}"
    # The served model reads its limits from the environment: export the resolved settings.
    for key, value in settings.serve.model_dump(exclude_none=True).items():
        os.environ[f"MLLMCL_SERVE__{key.upper()}"] = str(value)
    try:
        served = load_served_bundle(uri)
    except ValueError as error:
        errors.print(f"[red]{error}[/]")
        raise typer.Exit(2) from None
    console.print(f"serving {uri} on http://{host}:{port}/invocations", highlight=False)
    with serving_run(settings, benchmark, uri) as report:
        window = ConfidenceWindow(settings.serve.confidence_window, report)
        run_server(served, settings.serve, host, port, window.observe)
