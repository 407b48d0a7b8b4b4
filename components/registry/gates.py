"""Evaluation gates of the continual loop (docs/operations.md), as pure functions of the
figures: the new task is learned well enough (an absolute floor, and a margin over what the base
alone scores on it, so that an expert barely above chance is not promoted), the router routes
well enough, no old task drops more than a tolerance below the current champion, and backward
transfer stays above a floor."""

from __future__ import annotations

from collections.abc import Mapping
from statistics import fmean

from pydantic import BaseModel, Field


class GateThresholds(BaseModel, frozen=True):
    new_task_floor: float = Field(50.0, description="accuracy (%) the new task must reach")
    new_task_margin: float = Field(
        10.0, description="points the new task's accuracy must exceed the base's zero-shot by"
    )
    router_floor: float = Field(90.0, description="router accuracy (%) over the seen tasks")
    old_task_tolerance: float = Field(
        5.0, ge=0, description="points an old task may drop below its champion accuracy"
    )
    bwt_floor: float = Field(-5.0, description="backward transfer floor (points)")
    require_review: bool = Field(False, description="a person approves every promotion")


class GateResult(BaseModel, frozen=True):
    name: str
    value: float | None  # None: the gate does not apply (nothing to compare with)
    threshold: float
    passed: bool
    detail: str

    def summary(self) -> str:
        verdict = "pass" if self.passed else "FAIL"
        shown = "n/a" if self.value is None else f"{self.value:.2f}"
        return f"{verdict}: {shown} vs {self.threshold:g} ({self.detail})"


def learned_accuracies(
    accuracies: Mapping[str, float], previous: Mapping[str, float]
) -> dict[str, float]:
    """A[j][j] for every seen task: kept from when the task was learned, or (for a task learned
    now) its accuracy now."""
    return {task: previous.get(task, value) for task, value in accuracies.items()}


def backward_transfer(accuracies: Mapping[str, float], learned: Mapping[str, float]) -> float:
    """Mean change since learning, over the tasks learned before the newest (0 when none)."""
    older = [task for task in accuracies if task in learned]
    changes = [accuracies[task] - learned[task] for task in older]
    return fmean(changes) if changes else 0.0


def _new_task_gates(
    accuracies: Mapping[str, float],
    new_task: str | None,
    zero_shot: float | None,
    thresholds: GateThresholds,
) -> list[GateResult]:
    floor, margin = thresholds.new_task_floor, thresholds.new_task_margin
    if new_task is None:
        return [
            GateResult(
                name="new_task", value=None, threshold=floor, passed=True, detail="no new task"
            ),
            GateResult(
                name="new_task_gain",
                value=None,
                threshold=margin,
                passed=True,
                detail="no new task",
            ),
        ]
    value = accuracies[new_task]
    gain = None if zero_shot is None else value - zero_shot
    return [
        GateResult(
            name="new_task",
            value=value,
            threshold=floor,
            passed=value >= floor,
            detail=f"{new_task} accuracy",
        ),
        GateResult(
            name="new_task_gain",
            value=gain,
            threshold=margin,
            passed=gain is not None and gain >= margin,
            detail=f"{new_task} accuracy minus the base's zero-shot "
            + ("(not measured)" if zero_shot is None else f"({value:.2f} - {zero_shot:.2f})"),
        ),
    ]


def run_gates(
    accuracies: Mapping[str, float],
    router_accuracy: float,
    new_task: str | None,
    champion: Mapping[str, float],
    learned_before: Mapping[str, float],
    thresholds: GateThresholds,
    zero_shot: float | None = None,
) -> list[GateResult]:
    """`accuracies` over the seen tasks; `champion`: the current champion's accuracy per task
    (empty when there is none); `learned_before`: A[j][j] of the tasks learned before now;
    `zero_shot`: the base's accuracy on the new task."""
    gates = _new_task_gates(accuracies, new_task, zero_shot, thresholds)
    gates.append(
        GateResult(
            name="router",
            value=router_accuracy,
            threshold=thresholds.router_floor,
            passed=router_accuracy >= thresholds.router_floor,
            detail="router accuracy over the seen tasks",
        )
    )
    drops = {t: champion[t] - accuracies[t] for t in accuracies if t in champion and t != new_task}
    if drops:
        worst = max(drops, key=drops.__getitem__)
        shown_drop = round(drops[worst], 2)  # the champion's figures are tagged to 2 decimals
        detail = (
            f"largest drop below the champion: {worst}"
            if shown_drop > 0
            else "no task below the champion"
        )
        gates.append(
            GateResult(
                name="old_tasks",
                value=drops[worst],
                threshold=thresholds.old_task_tolerance,
                passed=drops[worst] <= thresholds.old_task_tolerance,
                detail=detail,
            )
        )
    else:
        gates.append(
            GateResult(
                name="old_tasks",
                value=None,
                threshold=thresholds.old_task_tolerance,
                passed=True,
                detail="no champion accuracy to compare with",
            )
        )
    older = {t: v for t, v in learned_before.items() if t in accuracies and t != new_task}
    bwt = backward_transfer({t: accuracies[t] for t in older}, older)
    gates.append(
        GateResult(
            name="bwt",
            value=bwt if older else None,
            threshold=thresholds.bwt_floor,
            passed=bwt >= thresholds.bwt_floor,
            detail=f"over {len(older)} earlier task(s)",
        )
    )
    return gates
