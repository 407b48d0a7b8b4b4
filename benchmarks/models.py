"""Benchmark of the MR-LoRA models on this machine (prints figures; not a test).

For each track: generate and prepare the default preset in a scratch home, build the tiny base,
train every expert (time, samples/s, Oracle accuracy on its own test split), train the MLLM
router on the cumulative replay (time, routing accuracy; beside a preset's shallow router also
one through every layer, the paper's depth), build the prototype router after every step (time,
routing accuracy on the tasks seen so far), then time inference: one expert alone, and routed by
each router (the MLLM router constrained and official, the prototype router), taking turns task
by task (each figure the median of five rounds), split by stage (vision tower, the rest of
routing, the experts' answers), with the tokens the MLLM router and an expert read per item.
Last, with several tracks: each router's low-confidence share on its own tasks' test items and
on the other tracks' (tasks no expert learned), at its kind's floor and at each of a grid of
floors.

    .venv/bin/python benchmarks/models.py [--tracks domain,ability] [--out DIR]
        [--mllm-floor 0.9] [--prototype-floor 0.5]

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
from statistics import median

import torch

from components.data.build import load_split, read_manifest
from components.models.base.build import ensure_tiny_base
from components.models.base.config import TinyBaseConfig
from components.models.generation import generate_answers
from components.models.lora.adapters import load_adapters
from components.models.lora.settings import ROUTER_PRESETS
from components.models.mrlora.experts import expert_settings, train_expert
from components.models.mrlora.prototypes import build_prototype_router
from components.models.mrlora.replay import replay_by_task, replay_samples, seen_spec
from components.models.mrlora.router_depth import train_router
from components.models.mrlora.router_eval import evaluate_router
from components.models.mrlora.settings import DEFAULT_TEMPLATE, ROUTER_KINDS
from components.models.mrlora.two_stage import TwoStage
from components.models.prompts import encode_prompts
from components.models.samples import evaluation_samples
from components.models.scoring import evaluate_adapter
from components.settings import Settings


def prepare(track: str, home: Path) -> Path:
    """Generate and prepare the default preset of a track in a scratch home; its data folder."""
    # Imported here: a GPU machine without DVC runs the benchmark on data prepared elsewhere.
    from components.data.generator.writer import generate_benchmark
    from components.data.prepare import build_staged, commit_staged
    from components.data.source import fingerprint_source, plan_source
    from components.data.validation import validate_source

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


# The router targets: the prototype router's least accuracy at any step per track, its routed
# cost, the MLLM router's routed cost where the vision features are shared, the separation.
TIMING_ROUNDS = 5
ALONE = "one expert alone"
ALL_LAYERS = "constrained_all_layers"  # the MLLM router at the paper's depth, beside a shallow one
PROTOTYPE_ACCURACY = {"domain": 97.0, "ability": 90.0}
PROTOTYPE_COST = 1.1
MLLM_COST = 1.4
SEPARATION = 5.0
FLOOR_GRID = (0.5, 0.7, 0.9, 0.95, 0.99)  # the separation is also printed at each of these


def targets(figures: dict, tracks: list[str]) -> list[str]:
    """Each target of the routers, its figure and whether it is met."""

    def verdict(met: bool) -> str:
        return "met" if met else "NOT met"

    lines = []
    for track in tracks:
        f = figures[track]
        least = min(step["router_accuracy"] for step in f["prototype_steps"])
        floor = PROTOTYPE_ACCURACY.get(track)
        if floor is not None:
            lines.append(
                f"target [{track}] prototype router accuracy >= {floor}% at every step: "
                f"least {least}% ({verdict(least >= floor)})"
            )
        cost = f["prototype"]["cost_vs_one_expert"]
        lines.append(
            f"target [{track}] prototype routed cost <= {PROTOTYPE_COST}x one expert: {cost}x "
            f"({verdict(cost <= PROTOTYPE_COST)})"
        )
        cost = f["constrained"]["cost_vs_one_expert"]
        if f["vision_shared"]:
            reading = verdict(cost <= MLLM_COST)
        else:  # the experts adapt the tower: no vision features to share
            reading = "the target is where the vision features are shared"
        depth = f["router_language_layers"] or "every"
        lines.append(
            f"target [{track}] MLLM routed cost <= {MLLM_COST}x one expert (router through "
            f"{depth} language layer(s)): {cost}x ({reading}); ms per item: "
            f"{f['constrained']['ms_per_item']}; tokens per item: "
            f"{f['constrained']['tokens_per_item']}"
        )
        if ALL_LAYERS in f:
            lines.append(
                f"  [{track}] for comparison, the MLLM router through every layer: "
                f"{f[ALL_LAYERS]['cost_vs_one_expert']}x; ms per item: "
                f"{f[ALL_LAYERS]['ms_per_item']}"
            )
        for router, shares in f.get("separation", {}).items():
            known, unknown = shares["known_low_confidence"], shares["unknown_low_confidence"]
            met = unknown > 0 and unknown >= SEPARATION * known
            lines.append(
                f"target [{track}] {router}: low-confidence share of unknown-task items >= "
                f"{SEPARATION}x the known tasks' at floor {shares['floor']}: {unknown}% against "
                f"{known}% ({verdict(met)})"
            )
    return lines


def test_items(data_dir: Path, track: str) -> list:
    """Every test item of the track's tasks."""
    manifest = read_manifest(data_dir / track)
    return [
        s
        for t in manifest.tasks
        for s in evaluation_samples(load_split(data_dir, track, t.spec.name, "test"))[0]
    ]


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
    router_settings = ROUTER_PRESETS[preset]
    # A preset's shallow router is also compared with the paper's, which reads every layer.
    depths = {"constrained": router_settings}
    if router_settings.language_layers is not None:
        depths[ALL_LAYERS] = router_settings.model_copy(update={"language_layers": None})
    routers = {}
    for name, settings_used in depths.items():
        run = train_router(
            base.ref.name_or_path,
            replay_samples(data_dir, track, spec),
            settings_used,
            models / track / name,
            progress=False,
            dtype=dtype,
        )
        routers[name] = run.folder
        figures[f"{name}_train_seconds"] = round(run.seconds, 1)
    figures["router_language_layers"] = router_settings.language_layers
    by_task = {
        name: evaluation_samples(load_split(data_dir, track, name, "test"))[0] for name in tasks
    }
    samples = [s for items in by_task.values() for s in items]
    shuffled = random.Random(0).sample(samples, len(samples))
    replay = replay_by_task(data_dir, track, spec)
    figures["prototype_steps"] = prototype_steps(base, data_dir, track, tasks, adapters, replay)
    prototypes = build_prototype_router(
        base.ref.name_or_path, replay, models / track / "prototypes", dtype
    )
    routers["official"] = routers["constrained"]
    routers["prototype"] = prototypes.folder
    bundles = {}
    for name, folder in routers.items():
        decoding = "official" if name == "official" else "constrained"
        bundles[name] = TwoStage(base.ref.name_or_path, folder, adapters, spec, decoding, dtype)
    rounds = interleaved_rounds(OneExpertAlone(base.ref.name_or_path, adapters), bundles, by_task)
    one_expert = len(samples) / median(r[ALONE]["total"] for r in rounds)
    figures["one_expert_samples_per_second"] = round(one_expert, 1)
    print(f"[{track}] one expert alone: {one_expert:.1f} samples/s", flush=True)
    for name, bundle in bundles.items():
        routing = evaluate_router(bundle, data_dir, track, spec)
        _, shuffled_seconds = timed(bundle.answer, shuffled)
        stages = {k: median(r[name][k] for r in rounds) for k in rounds[0][name]}
        costs = [r[name]["total"] / r[ALONE]["total"] for r in rounds]
        figures[name] = {
            "router_accuracy": round(routing.accuracy, 2),
            "router_per_task": {k: round(v, 1) for k, v in routing.per_task.items()},
            "samples_per_second": round(len(samples) / stages["total"], 1),
            "shuffled_samples_per_second": round(len(samples) / shuffled_seconds, 1),
            "ms_per_item": {k: round(1000 * v / len(samples), 2) for k, v in stages.items()},
            "tokens_per_item": prompt_tokens(bundle, samples) if name == "constrained" else None,
            "cost_vs_one_expert": round(median(costs), 2),
            "cost_each_round": [round(c, 2) for c in costs],
        }
        print(f"[{track}] {name} router: {figures[name]}", flush=True)
    figures["prototype_build_seconds"] = round(prototypes.seconds, 2)
    figures["vision_shared"] = bundles["prototype"].share_vision
    oracle = [e["oracle_accuracy"] for e in figures["experts"].values()]
    figures["oracle_mean"] = round(sum(oracle) / len(oracle), 2)
    return figures, bundles


class OneExpertAlone:
    """Each task's items answered by its own expert, no router: what routing adds is the
    difference. Every expert is loaded once, as in the routed bundle."""

    def __init__(self, base: str, adapters: dict[str, Path]) -> None:
        self.model, self.processor = load_adapters(base, adapters)

    def answer(self, task: str, samples: list) -> None:
        self.model.set_adapter(task)
        generate_answers(self.model, self.processor, samples)


def interleaved_rounds(
    alone: OneExpertAlone, bundles: dict[str, TwoStage], by_task: dict[str, list]
) -> list[dict[str, dict[str, float]]]:
    """Per round, seconds per way of answering (one expert alone; each bundle, by stage) over
    every task's test items. This machine's speed drifts by 10-20% within seconds: the ways
    take turns task by task, in an order that rotates, so that each meets the same drift."""
    ways = [ALONE, *bundles]
    rounds = []
    for round_index in range(TIMING_ROUNDS):
        seconds: dict[str, dict[str, float]] = {way: {} for way in ways}
        for task_index, (task, items) in enumerate(by_task.items()):
            shift = (round_index + task_index) % len(ways)
            for way in ways[shift:] + ways[:shift]:
                if way == ALONE:
                    stages = {"total": timed(alone.answer, task, items)[1]}
                else:
                    stages = timed_stages(bundles[way], items)
                for stage, spent in stages.items():
                    seconds[way][stage] = seconds[way].get(stage, 0.0) + spent
        rounds.append(seconds)
    return rounds


def prompt_tokens(bundle: TwoStage, samples: list) -> dict[str, float]:
    """What the MLLM router and an expert read per item, in tokens: the router's expert list
    (read once and cached), the router's prompt from the image on, the expert's whole prompt
    (images included; means over `samples`, unpadded)."""
    image_id = bundle.model.get_base_model().config.image_token_id
    listed, rests, prompts = [], [], []
    for sample in samples:
        routed = bundle.spec.sample(sample.image, sample.question)
        ids = encode_prompts(bundle.processor, [routed])["input_ids"][0]
        start = int((ids == image_id).nonzero()[0])
        listed.append(start)
        rests.append(len(ids) - start)
        prompts.append(int(encode_prompts(bundle.processor, [sample])["input_ids"].shape[1]))
    return {
        "router_expert_list": max(listed),
        "router_rest": round(sum(rests) / len(rests), 1),
        "expert_prompt": round(sum(prompts) / len(prompts), 1),
    }


def timed_stages(bundle: TwoStage, samples: list) -> dict[str, float]:
    """Seconds of routed answering in all, and by stage: the vision tower (timed by hooks on it,
    wherever it runs), the rest of routing (encoding the inputs, the router's own pass), and
    the experts' answers (the rest)."""
    tower = bundle.model.get_base_model().model.vision_tower
    vision = [0.0]
    starts: list[float] = []
    hooks = [
        tower.register_forward_pre_hook(lambda *_: starts.append(time.perf_counter())),
        tower.register_forward_hook(
            lambda *_: vision.__setitem__(0, vision[0] + time.perf_counter() - starts.pop())
        ),
    ]
    _, routing = timed(bundle.route, samples)
    routing_vision = vision[0]
    vision[0] = 0.0
    _, total = timed(bundle.answer, samples)
    for hook in hooks:
        hook.remove()
    return {
        "total": total,
        "vision": vision[0],
        "routing_without_vision": routing - routing_vision,
        "experts": total - routing - (vision[0] - routing_vision),
    }


def prototype_steps(base, data_dir: Path, track: str, tasks: list[str], adapters, replay) -> list:
    """The prototype router after each step (the tasks seen so far): its router accuracy on the
    seen tasks' test items and the seconds to build it."""
    steps = []
    manifest = read_manifest(data_dir / track)
    with tempfile.TemporaryDirectory(prefix="mllmcl-prototypes-") as scratch:
        for step in range(1, len(tasks) + 1):
            seen = tasks[:step]
            built = build_prototype_router(
                base.ref.name_or_path, {t: replay[t] for t in seen}, Path(scratch) / str(step)
            )
            spec = seen_spec(manifest, seen, DEFAULT_TEMPLATE)
            pool = {t: adapters[t] for t in seen}
            bundle = TwoStage(base.ref.name_or_path, built.folder, pool, spec)
            routing = evaluate_router(bundle, data_dir, track, spec)
            steps.append(
                {
                    "step": step,
                    "router_accuracy": round(routing.accuracy, 2),
                    "per_task": {k: round(v, 1) for k, v in routing.per_task.items()},
                    "build_seconds": round(built.seconds, 2),
                }
            )
            print(f"[{track}] prototype router, step {step}: {steps[-1]}", flush=True)
    return steps


def shares_below(confidences: list[list[float]], floor: float) -> list[float]:
    """Per list of routing confidences: the percent of them below `floor`."""
    return [round(100.0 * sum(c < floor for c in cs) / len(cs), 2) for cs in confidences]


def confidence_separation(
    bundles: dict, known: list, unknown: list, floors: dict[str, float]
) -> dict:
    """Per router: the share of a mixed test set's items routed below its kind's floor, among the
    items of the pool's own tasks and among items of a task no expert learned (another track's);
    and both shares at each floor of FLOOR_GRID."""
    figures = {}
    for name, bundle in bundles.items():
        confidences = [[r.confidence for r in bundle.route(items)] for items in (known, unknown)]
        known_share, unknown_share = shares_below(confidences, floors[bundle.kind])
        figures[name] = {
            "floor": floors[bundle.kind],
            "known_low_confidence": known_share,
            "unknown_low_confidence": unknown_share,
            "ratio": round(unknown_share / known_share, 1) if known_share else None,
            "known_and_unknown_by_floor": {
                str(floor): shares_below(confidences, floor) for floor in FLOOR_GRID
            },
        }
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tracks", default="domain,ability")
    parser.add_argument("--out", type=Path, default=None, help="write figures.json here")
    parser.add_argument("--preset", default="cpu", choices=["cpu", "official"])
    parser.add_argument("--dtype", default="auto", help="auto, float32, bfloat16, float16")
    parser.add_argument("--prepared", type=Path, default=None, help="a prepared data folder")
    for kind in ROUTER_KINDS:
        default = Settings.model_fields[f"{kind}_confidence_floor"].default
        parser.add_argument(f"--{kind}-floor", type=float, default=default)
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
        tracks = args.tracks.split(",")
        data = {track: args.prepared or prepare(track, root / track) for track in tracks}
        bundles = {}
        for track in tracks:
            adapters = root / "adapters"
            figures[track], bundles[track] = bench_track(
                track, data[track], adapters, build, args.preset, args.dtype
            )
        for track in tracks:  # the other tracks' test items: tasks no expert of this one learned
            known = test_items(data[track], track)
            others = [other for other in tracks if other != track]
            unknown = [s for other in others for s in test_items(data[other], other)]
            if unknown:
                floors = {kind: getattr(args, f"{kind}_floor") for kind in ROUTER_KINDS}
                separation = confidence_separation(bundles[track], known, unknown, floors)
                figures[track]["separation"] = separation
                print(f"[{track}] low-confidence shares: {separation}", flush=True)
    figures["targets"] = targets(figures, tracks)
    for line in figures["targets"]:
        print(line, flush=True)
    if torch.cuda.is_available():
        figures["peak_gpu_memory_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
    print(json.dumps(figures, indent=1))
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "figures.json").write_text(json.dumps(figures, indent=1))


if __name__ == "__main__":
    main()
