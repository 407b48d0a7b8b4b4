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
