"""Plots people would rather see than read (PNG, Agg backend: no display needed)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt


def confusion_png(
    confusion: dict[str, dict[str, int]], order: list[str], path: Path, title: str
) -> Path:
    """Rows: the item's own task; columns: the expert the router chose."""
    counts = [[confusion.get(gold, {}).get(chosen, 0) for chosen in order] for gold in order]
    figure, axis = plt.subplots(figsize=(1.2 + 0.8 * len(order), 1.0 + 0.8 * len(order)))
    axis.imshow(counts, cmap="Blues")
    axis.set_xticks(range(len(order)), order)
    axis.set_yticks(range(len(order)), order)
    axis.set_xlabel("routed to")
    axis.set_ylabel("task")
    axis.set_title(title)
    peak = max(max(row) for row in counts) or 1
    for i, row in enumerate(counts):
        for j, value in enumerate(row):
            color = "white" if value > peak / 2 else "black"
            axis.text(j, i, str(value), ha="center", va="center", color=color)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path


def confusion_over_time_png(
    confusions: dict[str, list[dict[str, dict[str, int]]]], tasks: list[str], path: Path
) -> Path:
    """One row per router kind, one column per step: where each seen task's items were routed
    (each row of a panel as shares of its task's items; a perfect router fills the diagonal)."""
    kinds = list(confusions)
    steps = max(len(c) for c in confusions.values())
    figure, axes = plt.subplots(
        len(kinds), steps, figsize=(1.0 + 1.9 * steps, 0.6 + 2.0 * len(kinds)), squeeze=False
    )
    for row, kind in enumerate(kinds):
        for step in range(steps):
            axis = axes[row][step]
            seen = tasks[: step + 1]
            confusion = confusions[kind][step] if step < len(confusions[kind]) else {}
            shares = []
            for gold in seen:
                counts = [confusion.get(gold, {}).get(chosen, 0) for chosen in seen]
                shares.append([c / max(1, sum(counts)) for c in counts])
            axis.imshow(shares, cmap="Blues", vmin=0, vmax=1)
            axis.set_xticks(range(len(seen)), seen, fontsize=7, rotation=90)
            axis.set_yticks(range(len(seen)), seen, fontsize=7)
            wrong = sum(
                n for gold in seen for to, n in confusion.get(gold, {}).items() if to != gold
            )
            axis.set_title(f"step {step + 1}: {wrong} off", fontsize=8)
        axes[row][0].set_ylabel(f"{kind}\ntask", fontsize=8)
    figure.suptitle("Router confusion after each step (columns: routed to)", fontsize=9)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def matrix_png(
    matrix: list[list[float]], rows: list[str], tasks: list[str], path: Path, method: str
) -> Path:
    """The accuracy matrix A[i][j]: rows the step (`rows` names them), columns the task."""
    figure, axis = plt.subplots(figsize=(1.6 + 0.9 * len(tasks), 1.2 + 0.8 * len(rows)))
    image = axis.imshow(matrix, cmap="viridis", vmin=0, vmax=100)
    axis.set_xticks(range(len(tasks)), tasks)
    axis.set_yticks(range(len(rows)), rows)
    axis.set_xlabel("evaluated on")
    axis.set_title(f"{method}: A[i][j]")
    for i, row in enumerate(matrix):
        for j, value in enumerate(row):
            color = "black" if value > 60 else "white"
            axis.text(j, i, f"{value:.0f}", ha="center", va="center", color=color)
    figure.colorbar(image, ax=axis, label="accuracy (%)")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path


def forgetting_png(drops: dict[str, list[float]], tasks: list[str], path: Path) -> Path:
    """Per task learned before the last: each method's forgetting (its largest drop since it
    was learned), side by side."""
    earlier = tasks[:-1] or tasks
    width = 0.8 / max(1, len(drops))
    figure, axis = plt.subplots(figsize=(2.0 + 1.1 * len(earlier), 3.6))
    for index, (method, values) in enumerate(drops.items()):
        positions = [j + (index - (len(drops) - 1) / 2) * width for j in range(len(values))]
        bars = axis.bar(positions, values, width, label=method)
        axis.bar_label(bars, fmt="%.1f", fontsize=7, padding=2)  # a drop of 0 shows as "0.0"
    axis.axhline(0, color="black", linewidth=0.8)
    axis.set_xticks(range(len(earlier)), earlier)
    axis.set_ylabel("largest drop since learned (points)")
    axis.set_title("forgetting per task")
    axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path
