"""Benchmark of the MR-LoRA models on this machine (prints figures; not a test).

For each track: generate and prepare the default preset in a scratch home, build the tiny base,
train every expert (time, samples/s, Oracle accuracy on its own test split), train the router on
the cumulative replay (time, routing accuracy), then time inference: routed with the constrained
router, routed with the official generation router, and one expert alone.

    .venv/bin/python benchmarks/models.py [--tracks domain,ability] [--out DIR]

On a GPU machine without MLflow, Prefect and DVC, `--prepared DIR` reads data already prepared
elsewhere (a copy of data/) and skips generation and preparation.
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from pathlib import Path

import torch

from components.data.build import load_split, read_manifest
from components.models.base.build import ensure_tiny_base
from components.models.base.config import TinyBaseConfig
from components.models.generation import generate_answers
from components.models.lora.adapters import load_adapters, train_adapter
from components.models.lora.settings import ROUTER_PRESETS
from components.models.mrlora.experts import expert_settings, train_expert
from components.models.mrlora.replay import replay_samples, seen_spec
from components.models.mrlora.router_eval import evaluate_router
from components.models.mrlora.settings import DEFAULT_TEMPLATE
from components.models.mrlora.two_stage import TwoStage
from components.models.samples import evaluation_samples
from components.models.scoring import evaluate_adapter


def prepare(track: str, home: Path) -> Path:
    """Generate and prepare the default preset of a track in a scratch home; its data folder."""
    # Imported here: a GPU machine without DVC runs the benchmark on data prepared elsewhere.
    from components.data.generator.writer import generate_benchmark
    from components.data.prepare import build_staged, commit_staged
    from components.data.source import fingerprint_source, plan_source
    from components.data.validation import validate_source
    from components.settings import Settings

    home.mkdir(parents=True, exist_ok=True)
    (home / "prefect.yaml").write_text("name: bench\n")
    settings = Settings(home=home)
    source = home / "sources" / track
    generate_benchmark(track, source, preset="default", progress=False)
    plan = plan_source(source)
    validated = validate_source(plan, 20, 0, settings.max_image_pixels)
    staged = build_staged(validated, fingerprint_source(plan), track, plan.track, settings, False)
    commit_staged(staged, settings)
    return settings.data_dir


def describe_device() -> str:
    if torch.cuda.is_available():
        return f"{torch.cuda.get_device_name()} (torch {torch.__version__})"
    return f"CPU, {torch.get_num_threads()} threads (torch {torch.__version__})"


def timed(fn, *args, **kwargs):
    started = time.perf_counter()
    result = fn(*args, **kwargs)
    return result, time.perf_counter() - started


def bench_track(
    track: str, data_dir: Path, models: Path, base, preset: str, dtype: str = "auto"
) -> dict:
    manifest = read_manifest(data_dir / track)
    tasks = [t.spec.name for t in manifest.tasks]
    figures: dict = {"experts": {}}
    adapters = {}
    for name in tasks:
        settings_used = expert_settings(preset, manifest.track)
        run = train_expert(
            data_dir,
            track,
            name,
            base.ref,
            settings_used,
            models / track / name,
            progress=False,
            dtype=dtype,
        )
        oracle = evaluate_adapter(
            data_dir, manifest, [name], base.ref, run.folder, name, dtype
        ).scores[name]
        adapters[name] = run.folder
        figures["experts"][name] = {
            "train_seconds": round(run.seconds, 1),
            "samples_per_second": round(run.samples_per_second, 1),
            "oracle_accuracy": round(oracle.accuracy, 2),
        }
        print(f"[{track}] expert {name}: {figures['experts'][name]}", flush=True)
    spec = seen_spec(manifest, tasks, DEFAULT_TEMPLATE)
    router_run = train_adapter(
        base.ref.name_or_path,
        replay_samples(data_dir, track, spec),
        ROUTER_PRESETS[preset],
        models / track / "router",
        progress=False,
        dtype=dtype,
    )
    figures["router_train_seconds"] = round(router_run.seconds, 1)
    samples = []
    for name in tasks:
        samples += evaluation_samples(load_split(data_dir, track, name, "test"))[0]
    shuffled = random.Random(0).sample(samples, len(samples))
    for decoding in ("constrained", "official"):
        bundle = TwoStage(base.ref.name_or_path, router_run.folder, adapters, spec, decoding, dtype)
        routing = evaluate_router(bundle, data_dir, track, spec)
        _, seconds = timed(bundle.answer, samples)
        figures[f"router_accuracy_{decoding}"] = round(routing.accuracy, 2)
        figures[f"router_per_task_{decoding}"] = {
            k: round(v, 1) for k, v in routing.per_task.items()
        }
        figures[f"routed_samples_per_second_{decoding}"] = round(len(samples) / seconds, 1)
        rate = len(samples) / seconds
        print(f"[{track}] routed ({decoding}): {rate:.1f} samples/s", flush=True)
        # The same items shuffled, as mixed traffic arrives (the bundle still answers each
        # expert's share in full batches).
        _, seconds = timed(bundle.answer, shuffled)
        figures[f"routed_samples_per_second_{decoding}_shuffled"] = round(len(samples) / seconds, 1)
    # The same items, each answered by its own task's expert alone (no router): what routing
    # adds is the difference.
    first = {tasks[0]: adapters[tasks[0]]}
    model, processor = load_adapters(base.ref.name_or_path, first, dtype)
    seconds = 0.0
    for name in tasks:
        if name != tasks[0]:
            model.load_adapter(str(adapters[name]), adapter_name=name)
        model.set_adapter(name)
        own = evaluation_samples(load_split(data_dir, track, name, "test"))[0]
        seconds += timed(generate_answers, model, processor, own)[1]
    figures["one_expert_samples_per_second"] = round(len(samples) / seconds, 1)
    figures["routed_cost_vs_one_expert"] = round(
        figures["one_expert_samples_per_second"] / figures["routed_samples_per_second_constrained"],
        2,
    )
    oracle = [e["oracle_accuracy"] for e in figures["experts"].values()]
    figures["oracle_mean"] = round(sum(oracle) / len(oracle), 2)
    print(
        f"[{track}] one expert alone: {figures['one_expert_samples_per_second']} samples/s",
        flush=True,
    )
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tracks", default="domain,ability")
    parser.add_argument("--out", type=Path, default=None, help="write figures.json here")
    parser.add_argument("--preset", default="cpu", choices=["cpu", "official"])
    parser.add_argument("--dtype", default="auto", help="auto, float32, bfloat16, float16")
    parser.add_argument("--prepared", type=Path, default=None, help="a prepared data folder")
    args = parser.parse_args()
    torch.set_num_threads(max(1, torch.get_num_threads()))
    with tempfile.TemporaryDirectory(prefix="mllmcl-bench-") as scratch:
        root = Path(scratch)
        build, seconds = timed(ensure_tiny_base, root / "models", TinyBaseConfig(), False)
        print(
            f"tiny base: {build.parameters / 1e6:.2f} M parameters, pretrained in {seconds:.1f} s",
            flush=True,
        )
        figures = {
            "device": describe_device(),
            "tiny_base_seconds": round(seconds, 1),
            "tiny_base_parameters": build.parameters,
        }
        for track in args.tracks.split(","):
            data_dir = args.prepared or prepare(track, root / track)
            adapters = root / "adapters"
            figures[track] = bench_track(track, data_dir, adapters, build, args.preset, args.dtype)
    if torch.cuda.is_available():
        figures["peak_gpu_memory_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
    print(json.dumps(figures, indent=1))
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "figures.json").write_text(json.dumps(figures, indent=1))


if __name__ == "__main__":
    main()
