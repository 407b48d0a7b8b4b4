"""What a method costs beside what it scores: the time it trains, the parameters it trains, the
bytes it keeps to answer, and the time it takes to answer one item."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from pydantic import BaseModel


class StepCost(BaseModel):
    train_seconds: float  # training in this step
    trainable_parameters: int  # trained in this step
    stored_bytes: int  # what the method keeps, after this step, to answer every task
    seconds_per_item: float  # answering one test item after this step


class MethodCost(BaseModel):
    train_seconds: float  # through the whole track
    trainable_parameters: int  # the most one step trained
    stored_bytes: int  # kept after the last step
    bytes_per_task: float
    seconds_per_item: float  # after the last step


def method_cost(steps: Sequence[StepCost], tasks: int) -> MethodCost:
    """A method's cost through a track of `tasks` tasks, from its steps' (one per task, or one
    for all of them)."""
    last = steps[-1]
    return MethodCost(
        train_seconds=sum(s.train_seconds for s in steps),
        trainable_parameters=max(s.trainable_parameters for s in steps),
        stored_bytes=last.stored_bytes,
        bytes_per_task=last.stored_bytes / tasks,
        seconds_per_item=last.seconds_per_item,
    )


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
