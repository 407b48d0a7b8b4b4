"""Sweep the expert recipe (epochs, learning rate, rank) over a benchmark's tasks and print each
task's Oracle accuracy and training time per recipe (prints figures; not a test).

    .venv/bin/python benchmarks/sweep_experts.py --base models/tiny-base-<digest> \
        --prepared data --track domain --recipes 16:3e-3:16,16:3e-3:16:1 [--dtype float32]

A recipe is epochs:learning_rate:rank[:seed] on top of the `cpu` preset (the seed moves the
tiny-base experts by up to 30 points on AD and Sci: sweep more than one). With `--base` a GPU
machine can sweep on the very base a CPU machine built (the tiny base differs between devices).
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from components.data.build import read_manifest
from components.models.base.loading import base_ref
from components.models.mrlora.experts import expert_settings, train_expert
from components.models.scoring import evaluate_adapter


def recipe_settings(recipe: str, track: str | None, vision: str = "track"):
    epochs, learning_rate, rank, *seed = recipe.split(":")
    preset = expert_settings("cpu", track)
    if vision != "track":
        preset = preset.model_copy(update={"vision": vision == "on"})
    train = preset.train.model_copy(
        update={
            "epochs": float(epochs),
            "learning_rate": float(learning_rate),
            "seed": int(seed[0]) if seed else preset.train.seed,
        }
    )
    return preset.model_copy(update={"rank": int(rank), "alpha": 2 * int(rank), "train": train})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", type=Path, required=True)
    parser.add_argument("--prepared", type=Path, required=True, help="a prepared data folder")
    parser.add_argument("--track", default="domain")
    parser.add_argument("--tasks", default=None, help="comma-separated (default: all)")
    parser.add_argument("--recipes", required=True)
    parser.add_argument("--dtype", default="auto")
    parser.add_argument(
        "--vision",
        choices=["track", "on", "off"],
        default="track",
        help="adapt the vision tower too: as the track does (ability: on), or on / off",
    )
    parser.add_argument("--out", type=Path, default=None, help="write sweep.json here")
    args = parser.parse_args()
    manifest = read_manifest(args.prepared / args.track)
    tasks = args.tasks.split(",") if args.tasks else [t.spec.name for t in manifest.tasks]
    base = base_ref(str(args.base))
    figures: dict = {}
    with tempfile.TemporaryDirectory(prefix="mllmcl-sweep-") as scratch:
        for recipe in args.recipes.split(","):
            settings = recipe_settings(recipe, manifest.track, args.vision)
            figures[recipe] = {}
            for task in tasks:
                folder = Path(scratch) / recipe.replace(":", "_") / task
                run = train_expert(
                    args.prepared,
                    args.track,
                    task,
                    base,
                    settings,
                    folder,
                    progress=False,
                    dtype=args.dtype,
                )
                score = evaluate_adapter(
                    args.prepared, manifest, [task], base, folder, task, args.dtype
                ).scores[task]
                figures[recipe][task] = {
                    "accuracy": round(score.accuracy, 1),
                    "train_seconds": round(run.seconds, 1),
                    "categories": score.report["categories"],
                }
                print(f"{recipe} {task}: {score.accuracy:.1f}% in {run.seconds:.1f} s", flush=True)
            mean = sum(f["accuracy"] for f in figures[recipe].values()) / len(tasks)
            print(f"{recipe} mean: {mean:.1f}", flush=True)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "sweep.json").write_text(json.dumps(figures, indent=1))


if __name__ == "__main__":
    main()
