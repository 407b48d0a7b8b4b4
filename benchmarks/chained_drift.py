"""Which part of a chained baseline's adapter forgets (prints figures; not a test).

On the CPU presets a chained baseline's adapter holds two parts: its LoRA, and the modules it
trains in full (the projector, and the vocabulary copies the tiny base needs). O-LoRA keeps each
task's LoRA in a subspace of its own and frozen, but the full modules are one set shared by every
task and trained again at each step. This trains each method through the track's order in a
scratch folder and then scores every earlier task i with four adapters made of the two parts:

    at step i       step i's LoRA   + step i's full modules   (what the task scored when learned)
    final           final LoRA      + final full modules      (what it scores at the end)
    final LoRA      final LoRA      + step i's full modules
    final modules   step i's LoRA   + final full modules

Where "final LoRA" recovers what "final" lost, and "final modules" loses it as "final" does, the
full modules' drift is the forgetting; the other way round, the LoRA is; where each recovers
part, both are. In O-LoRA, whose earlier LoRAs are frozen, "final LoRA" differs from "at step i"
only by the later tasks' LoRAs.

    .venv/bin/python benchmarks/chained_drift.py --prepared DATA [--track domain]
        [--methods o-lora,lora-ft]
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

from safetensors.torch import load_file, save_file

from components.data.build import Manifest, prepared_manifest
from components.methods.lora_ft import lora_ft_plan, train_step
from components.methods.olora import olora_plan
from components.models.base.build import ensure_tiny_base
from components.models.base.config import TinyBaseConfig
from components.models.base.loading import BaseRef
from components.models.lora.adapters import ADAPTER_WEIGHTS
from components.models.mrlora.experts import expert_settings
from components.models.scoring import evaluate_adapter
from components.settings import Settings

FORMS = ("at step i", "final", "final LoRA", "final modules")
METHODS = ("o-lora", "lora-ft")  # the methods it trains


def is_lora(key: str) -> bool:
    return "lora_" in key


def combined(lora_from: Path, modules_from: Path, out: Path) -> Path:
    """An adapter folder: `lora_from`'s configuration and LoRA weights, `modules_from`'s fully
    trained modules."""
    shutil.copytree(lora_from, out)
    lora = load_file(str(lora_from / ADAPTER_WEIGHTS))
    trained = load_file(str(modules_from / ADAPTER_WEIGHTS))
    modules = {k: v for k, v in trained.items() if not is_lora(k)}
    if set(modules) != {k for k in lora if not is_lora(k)}:
        raise ValueError(f"{lora_from} and {modules_from} train different full modules")
    save_file({**lora, **modules}, str(out / ADAPTER_WEIGHTS))
    return out


def train_chain(
    method: str, data_dir: Path, track: str, manifest: Manifest, base: BaseRef, out: Path
) -> list[Path]:
    """Each step's adapter folder, trained through the track's tasks in order."""
    tasks = manifest.names
    settings = expert_settings("cpu", manifest.track)
    strength = Settings.model_fields["olora_orthogonality"].default
    folders: list[Path] = []
    for step, task in enumerate(tasks, start=1):
        previous = folders[-1] if folders else None
        if method == "o-lora":
            plan = olora_plan(data_dir, track, task, previous, settings, strength)
        else:
            plan = lora_ft_plan(data_dir, track, tasks, step, previous)
        started = time.perf_counter()
        run = train_step(plan, base, settings, out / method / str(step), progress=False)
        folders.append(run.folder)
        print(f"[{method}] step {step} ({task}): {time.perf_counter() - started:.0f} s", flush=True)
    return folders


Rows = dict[str, dict[str, float]]


def drift(method: str, data_dir: Path, track: str, base: BaseRef, scratch: Path) -> Rows:
    manifest = prepared_manifest(data_dir, track)
    tasks = manifest.names
    folders = train_chain(method, data_dir, track, manifest, base, scratch)
    final = folders[-1]

    def score(task: str, folder: Path) -> float:
        evaluation = evaluate_adapter(data_dir, manifest, [task], base, folder, method)
        return round(evaluation.scores[task].accuracy, 1)

    rows = {}
    for i, task in enumerate(tasks[:-1]):
        parts = scratch / method / f"combined-{i + 1}"
        rows[task] = dict(
            zip(
                FORMS,
                [
                    score(task, folders[i]),
                    score(task, final),
                    score(task, combined(final, folders[i], parts / "final-lora")),
                    score(task, combined(folders[i], final, parts / "final-modules")),
                ],
                strict=True,
            )
        )
        print(f"[{method}] {task}: {rows[task]}", flush=True)
    return rows


def table(method: str, rows: Rows) -> str:
    lines = [
        f"{method} | " + " | ".join(FORMS),
        " | ".join(["---"] + ["---:"] * len(FORMS)),
    ]
    lines += [f"{task} | " + " | ".join(str(r[f]) for f in FORMS) for task, r in rows.items()]
    means = [round(sum(r[f] for r in rows.values()) / len(rows), 1) for f in FORMS]
    lines.append("mean | " + " | ".join(str(m) for m in means))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prepared", type=Path, required=True, help="a prepared data folder")
    parser.add_argument("--track", default="domain")
    parser.add_argument("--methods", default=",".join(METHODS), help="comma-separated")
    args = parser.parse_args()
    unknown = set(args.methods.split(",")) - set(METHODS)
    if unknown:
        parser.error(f"--methods: {', '.join(sorted(unknown))} not among {', '.join(METHODS)}")
    started = time.perf_counter()
    figures: dict[str, Rows] = {}
    with tempfile.TemporaryDirectory(prefix="mllmcl-drift-") as folder:
        scratch = Path(folder)
        base = ensure_tiny_base(scratch / "models", TinyBaseConfig(), False).ref
        for method in args.methods.split(","):
            figures[method] = drift(method, args.prepared, args.track, base, scratch)
    for method, rows in figures.items():
        print(f"\n{table(method, rows)}")
    print(f"\n{time.perf_counter() - started:.0f} s")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
