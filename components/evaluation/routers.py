"""The router kinds side by side: how each routed the same experts at every step (accuracy,
confusion, low-confidence share), what the routed bundle scored after the last step, and what
each kind costs (making the routers, answering an item)."""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel

from components.evaluation.routed import Evaluation


class RouterKindResult(BaseModel):
    kind: str
    configured: bool  # the kind the settings choose (its bundles were gated and promoted)
    accuracy: list[float]  # router accuracy after each step (%)
    low_confidence: list[float]  # after each step: % of the seen tasks' items below the floor
    confusion: list[dict[str, dict[str, int]]]  # after each step: task -> routed to -> items
    final: dict[str, float]  # the routed bundle's accuracy per task after the last step
    seconds_per_item: float  # answering one item routed, after the last step
    build_seconds: float | None  # making every step's router; None where a cost is unknown

    @property
    def mean_final(self) -> float:
        return sum(self.final.values()) / max(1, len(self.final))


def router_kind_result(
    kind: str,
    configured: bool,
    evaluations: Sequence[Evaluation],
    build_seconds: Sequence[float | None],
) -> RouterKindResult:
    """One kind's figures from its evaluation after each step, and each step's router cost."""
    known = [s for s in build_seconds if s is not None]
    return RouterKindResult(
        kind=kind,
        configured=configured,
        accuracy=[e.router_accuracy or 0.0 for e in evaluations],
        low_confidence=[e.low_confidence_share() for e in evaluations],
        confusion=[e.confusion() for e in evaluations],
        final=evaluations[-1].accuracies(),
        seconds_per_item=evaluations[-1].seconds_per_item,
        build_seconds=sum(known) if len(known) == len(build_seconds) else None,
    )


def router_kinds_table(kinds: Sequence[RouterKindResult]) -> str:
    """Per kind: router accuracy and low-confidence share after each step, the routed bundle's
    mean final accuracy, and the costs."""
    lines = [
        "| router | accuracy after each step (%) | low-confidence after each step (%) | "
        "MFN | answering (ms per item) | making the routers (s) |",
        "| --- | --- | --- | ---: | ---: | ---: |",
    ]
    for k in kinds:
        name = f"{k.kind} (configured)" if k.configured else k.kind
        build = "-" if k.build_seconds is None else f"{k.build_seconds:.1f}"
        lines.append(
            f"| {name} | {' / '.join(f'{a:.1f}' for a in k.accuracy)} | "
            f"{' / '.join(f'{s:.1f}' for s in k.low_confidence)} | {k.mean_final:.2f} | "
            f"{1000 * k.seconds_per_item:.1f} | {build} |"
        )
    return "\n".join(lines)


def routed_final_table(kinds: Sequence[RouterKindResult], tasks: Sequence[str]) -> str:
    """The routed bundle's accuracy per task after the last step, one row per kind."""
    lines = [f"| router | {' | '.join(tasks)} |", "| --- |" + " ---: |" * len(tasks)]
    for k in kinds:
        cells = " | ".join(f"{k.final.get(task, 0.0):.2f}" for task in tasks)
        lines.append(f"| {k.kind} | {cells} |")
    return "\n".join(lines)
