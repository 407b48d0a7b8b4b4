"""The `mllmcl` command."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path
from typing import Annotated, cast

import typer
from rich.table import Table

from cli.cluster import cluster_app
from cli.loop import (
    arrive,
    benchmark,
    refusing_what_cannot_run,
    retrain,
    run_and_print_benchmark,
    serve,
)
from cli.output import (
    console,
    errors,
    log_file_for,
    owns_the_terminal_streams,
    pipeline_output,
)
from cli.review import review_app
from components.data.generator.writer import PRESETS, Preset, generate_benchmark
from components.data.problems import SourceValidationError
from components.data.tasks import TRACK_ORDER, Track
from components.evaluation.predictions import read_annotations, read_predictions
from components.evaluation.scorers import RULES, ScoringError, score
from components.settings import Settings, get_settings
from components.timing import stage

# No analytics or telemetry calls from a machine that may have no network; a temporary Prefect
# server gets time to start on a busy laptop (Prefect's default, 20 s, is short on 2 cores).
for _name, _value in {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "DVC_NO_ANALYTICS": "1",
    "HF_DATASETS_DISABLE_PROGRESS_BARS": "1",
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
}.items():
    os.environ.setdefault(_name, _value)

app = typer.Typer(no_args_is_help=True, help=__doc__, pretty_exceptions_enable=False)
# The commands that run flows: their library output goes to a log file unless --verbose.
PIPELINE_COMMANDS = {
    "prepare",
    "demo",
    "benchmark",
    "arrive",
    "retrain",
    "base",
    "train-expert",
    "train-router",
}


@app.callback()
def main(
    ctx: typer.Context,
    verbose: Annotated[
        bool,
        typer.Option(
            "--verbose", help="show library output (Trainer bars, Prefect and MLflow logs) live"
        ),
    ] = False,
) -> None:
    """The `mllmcl` command."""
    command = ctx.invoked_subcommand
    if not verbose and command in PIPELINE_COMMANDS and owns_the_terminal_streams():
        # Read by the commands, and by the pipeline runs, which keep the file in MLflow.
        os.environ["MLLMCL_LOG_FILE"] = str(log_file_for(Settings().reports_dir, command))

    # `kill` and a closed terminal end the command as Ctrl-C does: MLflow runs are ended as
    # failed and the temporary Prefect server that a flow started here is stopped, not orphaned.
    def stop(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    for number in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(number, stop)


app.add_typer(review_app, name="review")
app.add_typer(cluster_app, name="cluster")
for _command in (arrive, retrain, benchmark, serve):
    app.command()(_command)

TrackOption = Annotated[str, typer.Option(help=f"one of {', '.join(TRACK_ORDER)}")]


def _check_choice(value: str | None, choices, what: str) -> None:
    if value is not None and value not in choices:
        errors.print(f"[red]unknown {what} {value!r}[/]; choose one of {', '.join(choices)}")
        raise typer.Exit(2)


@app.command()
def generate(
    track: TrackOption,
    out: Annotated[Path, typer.Option(help="folder to write the benchmark into")],
    seed: Annotated[int, typer.Option(help="generator seed")] = 0,
    preset: Annotated[str, typer.Option(help=f"one of {', '.join(PRESETS)}")] = "default",
) -> None:
    """Generate the embedded benchmark (MLLM-CL layout) for a track."""
    _check_choice(track, TRACK_ORDER, "track")
    _check_choice(preset, PRESETS, "preset")
    generated = generate_benchmark(
        cast(Track, track),
        out,
        seed=seed,
        preset=cast(Preset, preset),
        replay=get_settings().replay_per_task,
    )
    console.print(f"wrote the {track} track ({preset}, seed {seed}) to {generated.root}")
    for task, counts in generated.counts.items():
        console.print(f"  {task}: " + ", ".join(f"{n} {split}" for split, n in counts.items()))


def run_prepare(source: Path, benchmark: str, track: str | None, tasks: list[str] | None) -> dict:
    from flows.prepare import prepare_data  # Prefect is imported only by commands that run flows

    try:
        with (
            refusing_what_cannot_run(),
            pipeline_output(get_settings().log_file),
            stage(f"prepare {benchmark} from {source}"),
        ):
            return prepare_data(
                source=source, benchmark=benchmark, track=cast(Track | None, track), tasks=tasks
            )
    except SourceValidationError as error:
        errors.print(f"[red]{len(error.problems)} problem(s) in {source}; nothing was written:[/]")
        for problem in error.problems:
            errors.print(str(problem), markup=False, highlight=False)
        raise typer.Exit(2) from None


def _print_prepared(result: dict) -> None:
    prepared = result["prepared"]
    table = Table(title=f"{prepared.benchmark}: data version {prepared.version}")
    for column in ("task", "scorer", "train", "test", "router", "router from", "replay", "built"):
        table.add_column(column)
    for entry in prepared.manifest.tasks:
        c = entry.counts
        table.add_row(
            entry.spec.name,
            entry.spec.scorer,
            str(c["train"]),
            str(c["test"]),
            str(c["router"]),
            entry.sources["router"],
            str(c["replay"]),
            "yes" if entry.spec.name in prepared.built else "unchanged",
        )
    console.print(table)
    console.print(
        f"data version: [bold]{prepared.version}[/]  (MLflow run {result['mlflow_run_id']})"
    )


@app.command()
def prepare(
    source: Annotated[
        Path, typer.Option(help="MLLM-CL layout root: <source>/<Task>/train.json ...")
    ],
    benchmark: Annotated[str, typer.Option(help="name under data/ and in the registry")],
    track: Annotated[str | None, typer.Option(help="domain or ability (task order)")] = None,
    tasks: Annotated[str | None, typer.Option(help="comma-separated subset, e.g. RS,Med")] = None,
) -> None:
    """Validate, build, version (DVC) and log (MLflow) a benchmark source."""
    _check_choice(track, TRACK_ORDER, "track")
    names = [t.strip() for t in tasks.split(",") if t.strip()] if tasks else None
    _print_prepared(run_prepare(source, benchmark, track, names))


@app.command("score")
def score_command(
    scorer: Annotated[str, typer.Option(help=f"one of {', '.join(RULES)}")],
    annotations: Annotated[Path, typer.Option(help="test.json of the task")],
    predictions: Annotated[Path, typer.Option(help="predictions, JSON lines")],
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
) -> None:
    """Score predictions with an official MLLM-CL scoring rule."""
    _check_choice(scorer, RULES, "scorer")
    try:
        report = score(scorer, read_annotations(annotations), read_predictions(predictions))
    except (ScoringError, ValueError, OSError) as error:
        errors.print(f"[red]{error}[/]")
        raise typer.Exit(2) from None
    if as_json:
        print(json.dumps(report.as_dict()))
        return
    print(f"Samples: {report.samples}\nAccuracy: {report.accuracy:.2f}%")
    for name, category in sorted(report.categories.items()):
        print(f"  {name}: {category.accuracy:.2f}% ({category.hits:g}/{category.samples})")


@app.command()
def demo(
    preset: Annotated[str, typer.Option(help=f"one of {', '.join(PRESETS)}")] = "default",
) -> None:
    """The main job on the embedded default: for the domain track, then the ability track,
    generate and prepare the benchmark, take MR-LoRA through its tasks (each a task arrival with
    gates and promotion) and the LoRA-FT baseline beside Oracle and Zero-shot, and write the
    reports (reports/latest/<track>/ and reports/latest/report.md with both tables)."""
    _check_choice(preset, PRESETS, "preset")
    for track in TRACK_ORDER:
        run_and_print_benchmark(track, ["mr-lora", "lora-ft"], preset)
    console.print(
        "Prefect UI: prefect server start (http://127.0.0.1:4200); "
        f"data versions: dvc status ({get_settings().data_dir})"
    )


base_app = typer.Typer(no_args_is_help=True, help="The base MLLM.")
app.add_typer(base_app, name="base")


@base_app.command("build-tiny")
def build_tiny(
    ship: Annotated[
        bool, typer.Option(help="make the new build the one the repository carries")
    ] = False,
) -> None:
    """Pretrain the tiny CPU LLaVA from nothing (its vision tower, then its language model) and
    register it in MLflow; the configured `tiny` settings shape it."""
    from components.models.base.build import SHIPPED, read_build_record
    from components.models.base.build import ship as ship_base
    from components.models.base.config import TinyBaseConfig
    from flows.jobs import build_base

    if ship and get_settings().tiny != TinyBaseConfig():
        errors.print(
            "[red]only a build of the default tiny config is shipped[/]; "
            "unset the MLLMCL_TINY__* settings, or build without --ship"
        )
        raise typer.Exit(2)
    command = "mllmcl base build-tiny" + (" --ship" if ship else "")
    with pipeline_output(get_settings().log_file):
        ref = build_base(command)
    record = read_build_record(Path(ref.name_or_path))
    console.print(f"tiny base: {ref.name_or_path} (digest {ref.digest})")
    if record is not None:
        held_out = ", ".join(f"{k} {100 * v:.0f}%" for k, v in record.held_out.items())
        console.print(
            f"built in {record.seconds:.0f} s, {record.parameters:,} parameters; "
            f"held-out mixture questions: {held_out}"
        )
    if ship:
        ship_base(Path(ref.name_or_path))
        console.print(f"shipped: {SHIPPED}")


@app.command("train-expert")
def train_expert_command(
    benchmark: Annotated[str, typer.Option(help="a prepared benchmark")],
    tasks: Annotated[str | None, typer.Option(help="comma-separated; default: every task")] = None,
) -> None:
    """Train (or reuse) the LoRA expert of each task and register it in MLflow."""
    from flows.jobs import on_cluster
    from flows.train_expert import train_experts

    names = [t.strip() for t in tasks.split(",")] if tasks else None
    with refusing_what_cannot_run(), pipeline_output(get_settings().log_file):
        items = on_cluster(train_experts)(benchmark, names)
    for item in items:
        state = "reused" if item.reused else "trained"
        console.print(f"{item.name} v{item.version} ({state}) at {item.folder}")


@app.command("train-router")
def train_router_command(
    benchmark: Annotated[str, typer.Option(help="a prepared benchmark")],
    tasks: Annotated[str | None, typer.Option(help="the expert pool; default: every task")] = None,
) -> None:
    """Train (or reuse) the router over the experts of the given tasks."""
    from flows.jobs import on_cluster
    from flows.train_router import train_router

    names = [t.strip() for t in tasks.split(",")] if tasks else None
    with refusing_what_cannot_run(), pipeline_output(get_settings().log_file):
        pool = on_cluster(train_router)(benchmark, names)
    router, evaluation = pool.router, pool.evaluation
    console.print(f"{router.name} v{router.version} ({'reused' if router.reused else 'trained'})")
    for task, result in evaluation.scores.items():
        console.print(
            f"  {task}: routed right {result.routed_right:.1f}%, answered {result.accuracy:.1f}%"
        )
    console.print(f"router accuracy {evaluation.router_accuracy or 0.0:.1f}%")


@app.command()
def predict(
    image: Annotated[Path, typer.Option(help="an image file")],
    question: Annotated[str, typer.Option(help="the question about the image")],
    benchmark: Annotated[str, typer.Option(help="whose registered router and experts")] = "domain",
    router_version: Annotated[
        str | None, typer.Option(help="a router version (default: the champion bundle's)")
    ] = None,
    router: Annotated[
        Path | None, typer.Option(help="a router adapter folder instead of the registry")
    ] = None,
    expert: Annotated[
        list[str] | None, typer.Option(help="TASK=PATH, an expert adapter folder (with --router)")
    ] = None,
) -> None:
    """Answer one question with MR-LoRA: the router picks the expert, the expert answers."""
    from PIL import Image

    from components.models.mrlora.two_stage import TwoStage
    from components.models.prompts import Sample
    from components.registry.bundle import local_bundle, resolve_bundle

    settings = get_settings()
    try:
        if router is not None:
            folders = dict(item.split("=", 1) for item in expert or [])
            parts = local_bundle(router, {t: Path(p) for t, p in folders.items()}, settings)
        else:
            parts = resolve_bundle(benchmark, settings, router_version)
    except (FileNotFoundError, ValueError, LookupError) as error:
        errors.print(f"[red]{error}[/]")
        raise typer.Exit(2) from None
    bundle = TwoStage(
        parts.base.name_or_path,
        parts.router,
        parts.experts,
        parts.spec,
        settings.router_decoding,
        settings.dtype,
        settings.device,
    )
    with Image.open(image) as picture:
        result = bundle.answer([Sample(picture.convert("RGB"), question)])[0]
    console.print(
        f"expert: {result.letter} = {result.task} (v{parts.expert_versions[result.task]}, "
        f"router v{parts.router_version})\nanswer: {result.answer}"
    )
