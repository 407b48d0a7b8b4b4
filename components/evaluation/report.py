"""A benchmark run's results: per method the accuracy matrix and the continual metrics, the
Zero-shot and Oracle rows and the timings; written as results.json, a Markdown report in the
paper's table form, and PNG plots (a heatmap per method, the forgetting per task)."""

from __future__ import annotations

import json
from pathlib import Path
from statistics import fmean

from pydantic import BaseModel

from components.data.tasks import TRACK_ORDER
from components.evaluation.metrics import continual_metrics, forgetting, forward_transfer
from components.evaluation.plots import forgetting_png, matrix_png


class MethodResult(BaseModel):
    tasks: list[str]
    matrix: list[list[float]]  # A[i][j] in percent, j over every task
    MFT: float
    MFN: float
    MAA: float
    BWT: float
    forgetting: list[float] = []  # per task learned before the last: its largest drop
    router_accuracy: list[float] | None = None  # after each step (MR-LoRA)


def method_result(
    tasks: list[str], rows: list[dict[str, float]], router_accuracy: list[float] | None = None
) -> MethodResult:
    """`rows[i]`: accuracy per task after learning task i."""
    matrix = [[row[t] for t in tasks] for row in rows]
    metrics = continual_metrics(matrix)
    return MethodResult(
        tasks=tasks,
        matrix=matrix,
        forgetting=forgetting(matrix),
        router_accuracy=router_accuracy,
        **metrics.model_dump(),
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

    def forward_transfer(self, method: str) -> float:
        """FWT of a method, against the Zero-shot row."""
        matrix = self.methods[method].matrix
        return forward_transfer(matrix, [self.zero_shot[t] for t in self.tasks])

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


def _cells(values: list[float]) -> str:
    return " | ".join(f"{v:.2f}" for v in values)


def comparison_table(results: BenchmarkResults) -> str:
    """Final accuracy per task (A[T][j]) and the five metrics, one row per method."""
    tasks = results.tasks
    head = f"| Method | {' | '.join(tasks)} | MFT | MFN | MAA | BWT | FWT |"
    rule = "| --- |" + " ---: |" * (len(tasks) + 5)
    rows = [
        f"| Zero-shot | {_cells([results.zero_shot[t] for t in tasks])} | - | "
        f"{fmean(results.zero_shot.values()):.2f} | - | - | - |"
    ]
    for name, method in results.methods.items():
        metrics = [method.MFT, method.MFN, method.MAA, method.BWT, results.forward_transfer(name)]
        rows.append(f"| {name} | {_cells(method.matrix[-1])} | {_cells(metrics)} |")
    oracle = [results.oracle[t] for t in tasks]
    rows.append(f"| Oracle | {_cells(oracle)} | - | {fmean(oracle):.2f} | - | - | - |")
    return "\n".join([head, rule, *rows])


def markdown_report(results: BenchmarkResults, plots: list[str]) -> str:
    lines = [
        f"# MLLM-CL benchmark: {results.benchmark}",
        "",
        f"Tasks in order: {' -> '.join(results.tasks)}. Accuracies in percent with each task's "
        "official scorer; the per-task columns are A[T][j], after the last task.",
        "",
        comparison_table(results),
        "",
    ]
    for name, method in results.methods.items():
        lines += [f"## {name}: accuracy matrix A[i][j]", ""]
        lines.append(f"| after \\ on | {' | '.join(results.tasks)} |")
        lines.append("| --- |" + " ---: |" * len(results.tasks))
        for task, row in zip(method.tasks, method.matrix, strict=True):
            lines.append(f"| {task} | {_cells(row)} |")
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
        "continual metrics: MFT (mean accuracy on each task right after learning it), MFN (mean "
        "final accuracy), MAA (mean over steps of the mean accuracy on the tasks learned so far), "
        "BWT (mean change on earlier tasks between learning them and the end; negative: "
        "forgetting), FWT (mean accuracy on each task just before it is learned, above the base "
        "alone's).",
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
    """results.json, report.md and the plots into `folder`; returns every file written."""
    folder.mkdir(parents=True, exist_ok=True)
    plots = [
        matrix_png(m.matrix, results.tasks, folder / f"matrix-{name}.png", f"{name}: A[i][j]")
        for name, m in results.methods.items()
    ]
    plots.append(
        forgetting_png(
            {name: m.forgetting for name, m in results.methods.items()},
            results.tasks,
            folder / "forgetting.png",
        )
    )
    (folder / "results.json").write_text(json.dumps(results.as_json(), indent=1), encoding="utf-8")
    report = folder / "report.md"
    report.write_text(markdown_report(results, [p.name for p in plots]), encoding="utf-8")
    return [folder / "results.json", report, *plots]
