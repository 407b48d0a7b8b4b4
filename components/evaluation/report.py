"""A benchmark run's results: per method the accuracy matrix and the continual metrics, the
Zero-shot and Oracle rows and the timings; written as results.json, a Markdown report in the
paper's table form, and PNG plots (a heatmap per method, the forgetting per task)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from statistics import fmean, stdev

from pydantic import BaseModel

from components.data.tasks import TRACK_ORDER
from components.evaluation.costs import MethodCost, StepCost, method_cost
from components.evaluation.expectations import reading_against_papers
from components.evaluation.html_report import markdown_page
from components.evaluation.metrics import (
    continual_metrics,
    defined,
    forgetting,
    forward_transfer,
)
from components.evaluation.plots import confusion_over_time_png, forgetting_png, matrix_png
from components.evaluation.routers import (
    RouterKindResult,
    routed_final_table,
    router_kinds_table,
)

METRICS = ("MFT", "MFN", "MAA", "BWT", "FWT")
METRIC_MEANINGS = {
    "MFT": "mean accuracy on each task right after learning it",
    "MFN": "mean final accuracy, over every task, after the last one",
    "MAA": "mean over the steps of the mean accuracy on the tasks learned so far",
    "BWT": "mean change on the earlier tasks between learning them and the end "
    "(negative: forgetting)",
    "FWT": "mean accuracy on each task just before it is learned, above the base alone's",
}


def metric_definitions() -> list[str]:
    """What the columns of the comparison table mean, as a Markdown list."""
    return [f"- **{name}**: {meaning}" for name, meaning in METRIC_MEANINGS.items()]


class MethodResult(BaseModel):
    """A method's run: the accuracy matrix and the continual metrics. A method that learns every
    task at once (the joint upper bound) has one row, after all of them, and only MFN: the
    metrics of learning in order (MFT, MAA, BWT, FWT) are None."""

    tasks: list[str]  # in the order they were learned
    matrix: list[list[float]]  # A[i][j] in percent, i and j in that order
    MFT: float | None
    MFN: float
    MAA: float | None
    BWT: float | None
    forgetting: list[float] = []  # per task learned before the last: its largest drop
    router_accuracy: list[float] | None = None  # after each step (MR-LoRA)
    seed: int = 0  # the adapters' training seed
    cost: MethodCost | None = None  # None where a step's figures are unknown
    # After the last task: accuracy per question kind of each task that has several.
    kinds: dict[str, dict[str, float]] = {}

    def final(self) -> dict[str, float]:
        """A[T][j] by task name."""
        return dict(zip(self.tasks, self.matrix[-1], strict=True))

    @property
    def in_order(self) -> bool:
        """A row after every task: learned one task after another."""
        return len(self.matrix) == len(self.tasks)

    def row_labels(self) -> list[str]:
        return [f"after {t}" for t in self.tasks] if self.in_order else ["after all at once"]


def method_result(
    tasks: list[str],
    rows: list[dict[str, float]],
    router_accuracy: list[float] | None = None,
    costs: Sequence[StepCost | None] = (),
    seed: int = 0,
    kinds: dict[str, dict[str, float]] | None = None,
) -> MethodResult:
    """`rows[i]`: accuracy per task after learning task i (or one row, after learning every
    task at once); `costs[i]`: what step i took; `kinds`: per question kind after the last
    task."""
    matrix = [[row[t] for t in tasks] for row in rows]
    if len(matrix) == len(tasks):
        metrics = continual_metrics(matrix).model_dump()
        drops = forgetting(matrix)
    elif len(matrix) == 1:
        metrics = {"MFT": None, "MFN": fmean(matrix[0]), "MAA": None, "BWT": None}
        drops = []
    else:
        raise ValueError(f"{len(matrix)} accuracy rows for {len(tasks)} tasks: expected one or all")
    known = [c for c in costs if c is not None]
    return MethodResult(
        tasks=tasks,
        matrix=matrix,
        forgetting=drops,
        router_accuracy=router_accuracy,
        seed=seed,
        cost=method_cost(known, len(tasks)) if known and len(known) == len(rows) else None,
        kinds=kinds or {},
        **metrics,
    )


class BenchmarkResults(BaseModel):
    benchmark: str
    tasks: list[str]
    methods: dict[str, MethodResult]
    oracle: dict[str, float]
    zero_shot: dict[str, float]
    timings: dict[str, float]  # seconds per stage (on a cluster some ran side by side)
    wall_seconds: float | None = None  # from start to the report; None: the stages' sum
    champion: str | None = None  # the bundle version aliased champion at the end
    # Every run of each method (task orders x seeds), the main one (`methods`) first.
    runs: dict[str, list[MethodResult]] = {}
    # MR-LoRA's main run routed by each router kind (the configured one first).
    routers: list[RouterKindResult] = []

    def forward_transfer(self, method: str) -> float | None:
        """FWT of a method's main run, against the Zero-shot row."""
        return self.run_forward_transfer(self.methods[method])

    def run_forward_transfer(self, run: MethodResult) -> float | None:
        if not run.in_order:
            return None
        return forward_transfer(run.matrix, [self.zero_shot[t] for t in run.tasks])

    def runs_of(self, method: str) -> list[MethodResult]:
        return self.runs.get(method) or [self.methods[method]]

    def spread(self, method: str) -> dict[str, list[float | None]]:
        """Each column of the comparison table over the method's runs."""
        runs = [self.columns(run) for run in self.runs_of(method)]
        return {column: [run[column] for run in runs] for column in runs[0]}

    def columns(self, run: MethodResult) -> dict[str, float | None]:
        """One run's row of the comparison table: final accuracy per task (in the track's
        order), then the metrics (None: not defined for the run)."""
        final = run.final()
        values: dict[str, float | None] = {task: final[task] for task in self.tasks}
        values |= {"MFT": run.MFT, "MFN": run.MFN, "MAA": run.MAA, "BWT": run.BWT}
        return values | {"FWT": self.run_forward_transfer(run)}

    def as_json(self) -> dict:
        """results.json: the methods at the top level, beside oracle, zero_shot and timings."""
        data = self.model_dump(exclude={"methods"})
        return {**data, **{name: m.model_dump() for name, m in self.methods.items()}}

    @classmethod
    def from_json(cls, data: dict) -> BenchmarkResults:
        """The inverse of `as_json`."""
        fields = {k: v for k, v in data.items() if k in cls.model_fields}
        methods = {k: v for k, v in data.items() if k not in cls.model_fields}
        return cls.model_validate({**fields, "methods": methods})


def _cells(values: Sequence[float | None]) -> str:
    return " | ".join("-" if v is None else f"{v:.2f}" for v in values)


def _spread(values: Sequence[float | None]) -> str:
    """The mean, and the standard deviation over runs where there are several."""
    known = defined(values)
    if known is None:
        return "-"
    if len(known) == 1:
        return f"{known[0]:.2f}"
    return f"{fmean(known):.2f} ± {stdev(known):.2f}"


def comparison_table(results: BenchmarkResults) -> str:
    """Final accuracy per task (A[T][j]) and the five metrics, one row per method: the mean
    ± standard deviation over its runs where it has several."""
    tasks = results.tasks
    head = f"| Method | {' | '.join(tasks)} | {' | '.join(METRICS)} |"
    rule = "| --- |" + " ---: |" * (len(tasks) + len(METRICS))
    rows = [
        f"| Zero-shot | {_cells([results.zero_shot[t] for t in tasks])} | - | "
        f"{fmean(results.zero_shot.values()):.2f} | - | - | - |"
    ]
    for name in results.methods:
        spread = results.spread(name)
        cells = [_spread(values) for values in spread.values()]
        runs = len(results.runs_of(name))
        label = name if runs == 1 else f"{name} ({runs} runs)"
        rows.append(f"| {label} | {' | '.join(cells)} |")
    oracle = [results.oracle[t] for t in tasks]
    rows.append(f"| Oracle | {_cells(oracle)} | - | {fmean(oracle):.2f} | - | - | - |")
    return "\n".join([head, rule, *rows])


def cost_table(results: BenchmarkResults) -> str:
    """What each method took (its runs' mean) and keeps."""
    lines = [
        "| Method | training (min) | trained parameters (M, most in one step) | kept per task "
        "(MB) | answering (ms per item) |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for name in results.methods:
        costs = [run.cost for run in results.runs_of(name) if run.cost is not None]
        if not costs:
            lines.append(f"| {name} | - | - | - | - |")
            continue
        lines.append(
            f"| {name} | {fmean(c.train_seconds for c in costs) / 60:.1f} | "
            f"{costs[0].trainable_parameters / 1e6:.2f} | "
            f"{costs[0].bytes_per_task / 1e6:.2f} | "
            f"{fmean(c.seconds_per_item for c in costs) * 1e3:.0f} |"
        )
    return "\n".join(lines)


def kinds_table(results: BenchmarkResults) -> str | None:
    """Accuracy per question kind after the last task, for the tasks that have several (mean ±
    sd over runs); None when no task has."""
    columns = sorted(
        {
            (task, kind)
            for name in results.methods
            for run in results.runs_of(name)
            for task, kinds in run.kinds.items()
            for kind in kinds
        }
    )
    if not columns:
        return None
    head = " | ".join(f"{task}: {kind}" for task, kind in columns)
    lines = [f"| Method | {head} |", "| --- |" + " ---: |" * len(columns)]
    for name in results.methods:
        runs = results.runs_of(name)
        cells = []
        for task, kind in columns:
            values = [run.kinds[task][kind] for run in runs if kind in run.kinds.get(task, {})]
            cells.append(_spread(values) if values else "-")
        lines.append(f"| {name} | {' | '.join(cells)} |")
    return "\n".join(lines)


def runs_table(results: BenchmarkResults) -> str:
    """Each run's order, seed and metrics."""
    lines = [
        f"| Method | order | seed | {' | '.join(METRICS)} |",
        "| --- | --- | ---: |" + " ---: |" * len(METRICS),
    ]
    for name in results.methods:
        for run in results.runs_of(name):
            columns = results.columns(run)
            metrics = _cells([columns[m] for m in METRICS])
            lines.append(f"| {name} | {' -> '.join(run.tasks)} | {run.seed} | {metrics} |")
    return "\n".join(lines)


def forgetting_reading(results: BenchmarkResults) -> list[str]:
    """One line per method: where it forgets most (largest drop since a task was learned,
    averaged over its runs), and how much on average."""
    lines = []
    for name in results.methods:
        drops: dict[str, list[float]] = {}
        for run in results.runs_of(name):
            for task, drop in zip(run.tasks, run.forgetting, strict=False):
                drops.setdefault(task, []).append(drop)
        if not drops:
            continue
        mean_drop = {task: fmean(values) for task, values in drops.items()}
        worst = max(mean_drop, key=lambda task: mean_drop[task])
        overall = fmean(mean_drop.values())
        if mean_drop[worst] <= 0.5:
            lines.append(f"- {name}: forgets nothing (largest drop {mean_drop[worst]:.1f} points).")
            continue
        average = (
            f"{overall:.1f} points on average over the earlier tasks"
            if overall >= 0
            else f"on average the earlier tasks end {-overall:.1f} points above their best before"
        )
        lines.append(
            f"- {name}: forgets most on {worst} ({mean_drop[worst]:.1f} points below its best "
            f"since learned); {average}."
        )
    return lines


def headline(results: BenchmarkResults) -> list[str]:
    """The report's opening lines: the task order, the comparison table, what its metrics mean."""
    return [
        f"Tasks in order: {' -> '.join(results.tasks)}. Accuracies in percent with each task's "
        "official scorer; the per-task columns are A[T][j], after the last task.",
        "",
        comparison_table(results),
        "",
        *metric_definitions(),
        "",
    ]


def markdown_report(results: BenchmarkResults, plots: list[str]) -> str:
    lines = [
        f"# MLLM-CL benchmark: {results.benchmark}",
        "",
        *headline(results),
        "## Where each method forgets",
        "",
        *forgetting_reading(results),
        "",
        "## Against what the papers report",
        "",
        *(reading_against_papers(results) or ["- no method here has a published expectation"]),
        "",
        "## Cost",
        "",
        cost_table(results),
        "",
    ]
    kinds = kinds_table(results)
    if kinds is not None:
        lines += ["## Per question kind, after the last task", "", kinds, ""]
    if results.routers:
        lines += [
            "## Router kinds on the same experts (MR-LoRA, the track's order)",
            "",
            router_kinds_table(results.routers),
            "",
            "Routed accuracy per task after the last step:",
            "",
            routed_final_table(results.routers, results.tasks),
            "",
        ]
    if any(len(results.runs_of(name)) > 1 for name in results.methods):
        lines += ["## Runs (task order and seed)", "", runs_table(results), ""]
    for name, method in results.methods.items():
        lines += [f"## {name}: accuracy matrix A[i][j]", ""]
        lines.append(f"| after \\ on | {' | '.join(results.tasks)} |")
        lines.append("| --- |" + " ---: |" * len(results.tasks))
        for label, row in zip(method.row_labels(), method.matrix, strict=True):
            lines.append(f"| {label} | {_cells(row)} |")
        if method.router_accuracy:
            steps = ", ".join(f"{a:.1f}" for a in method.router_accuracy)
            lines.append(f"\nRouter accuracy after each step (%): {steps}")
        lines.append("")
    lines += ["## Timings (s)", "", "| stage | seconds |", "| --- | ---: |"]
    lines += [f"| {stage} | {seconds:.1f} |" for stage, seconds in results.timings.items()]
    if results.champion:
        lines += ["", f"Champion bundle: version {results.champion}."]
    lines += ["", *[f"![{Path(p).stem}]({Path(p).name})" for p in plots], ""]
    return "\n".join(lines)


def combined_report(tracks: list[BenchmarkResults]) -> str:
    """Every track's comparison table on one page, each linking to its full report."""
    lines = [
        "# MLLM-CL: every track",
        "",
        "Final accuracy per task (A[T][j], in percent, each task's official scorer) and the "
        "continual metrics:",
        "",
        *metric_definitions(),
        "",
    ]
    for results in tracks:
        lines += [f"## {results.benchmark}", "", comparison_table(results), ""]
        router = next(
            (m.router_accuracy for m in results.methods.values() if m.router_accuracy), None
        )
        if router:
            lines.append(
                f"Router accuracy after each step (%): {', '.join(f'{a:.1f}' for a in router)}"
            )
            lines.append("")
        total = results.wall_seconds or sum(results.timings.values())
        lines += [
            f"Time: {total / 60:.1f} min. Full report: [{results.benchmark}/report.md]"
            f"({results.benchmark}/report.md).",
            "",
        ]
    return "\n".join(lines)


def write_combined_report(folder: Path) -> Path:
    """report.md in `folder` from the results.json of each track folder in it, the paper's
    tracks first, in its order."""
    tracks = [
        BenchmarkResults.from_json(json.loads(path.read_text(encoding="utf-8")))
        for path in folder.glob("*/results.json")
    ]
    order = list(TRACK_ORDER)
    tracks.sort(
        key=lambda r: (
            order.index(r.benchmark) if r.benchmark in order else len(order),
            r.benchmark,
        )
    )
    report = folder / "report.md"
    report.write_text(combined_report(tracks), encoding="utf-8")
    return report


def write_report(results: BenchmarkResults, folder: Path) -> list[Path]:
    """results.json, report.md, the same as one HTML page, and the plots into `folder`;
    returns every file written."""
    folder.mkdir(parents=True, exist_ok=True)
    plots = [
        matrix_png(m.matrix, m.row_labels(), results.tasks, folder / f"matrix-{name}.png", name)
        for name, m in results.methods.items()
    ]
    plots.append(
        forgetting_png(
            {name: m.forgetting for name, m in results.methods.items() if m.in_order},
            results.tasks,
            folder / "forgetting.png",
        )
    )
    if results.routers:
        plots.append(
            confusion_over_time_png(
                {k.kind: k.confusion for k in results.routers},
                results.tasks,
                folder / "router-confusion.png",
            )
        )
    (folder / "results.json").write_text(json.dumps(results.as_json(), indent=1), encoding="utf-8")
    text = markdown_report(results, [p.name for p in plots])
    report = folder / "report.md"
    report.write_text(text, encoding="utf-8")
    page = folder / "report.html"
    title = f"MLLM-CL benchmark: {results.benchmark}"
    page.write_text(markdown_page(text, folder, title), encoding="utf-8")
    return [folder / "results.json", report, page, *plots]
