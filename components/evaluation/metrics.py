"""Continual-learning metrics over the accuracy matrix A[i][j] = accuracy on task j after learning
task i (docs/method.md, "Continual metrics"). Entries for tasks not yet learned (j > i) are
ignored by every metric but forward transfer, which reads the one just before each task is
learned, A[i-1][i], against what the base alone scores on it."""

from __future__ import annotations

from collections.abc import Sequence
from statistics import fmean

from pydantic import BaseModel

Matrix = Sequence[Sequence[float]]


class ContinualMetrics(BaseModel, frozen=True):
    MFT: float
    MFN: float
    MAA: float
    BWT: float


def _check_square(matrix: Matrix) -> int:
    size = len(matrix)
    if size == 0:
        raise ValueError("the accuracy matrix is empty")
    for i, row in enumerate(matrix):
        if len(row) != size:
            raise ValueError(f"accuracy matrix row {i} has {len(row)} entries, expected {size}")
    return size


def mean_final_train(matrix: Matrix) -> float:
    """MFT: mean of the diagonal, each task right after it was learned."""
    size = _check_square(matrix)
    return fmean(matrix[i][i] for i in range(size))


def mean_final(matrix: Matrix) -> float:
    """MFN: mean of the last row, every task after the last one was learned."""
    _check_square(matrix)
    return fmean(matrix[-1])


def mean_average_accuracy(matrix: Matrix) -> float:
    """MAA: mean over steps of the mean accuracy on the tasks seen so far."""
    size = _check_square(matrix)
    return fmean(fmean(matrix[i][: i + 1]) for i in range(size))


def backward_transfer(matrix: Matrix) -> float:
    """BWT: mean change on earlier tasks between learning them and the end (0 for one task)."""
    size = _check_square(matrix)
    if size == 1:
        return 0.0
    return fmean(matrix[-1][j] - matrix[j][j] for j in range(size - 1))


def forward_transfer(matrix: Matrix, zero_shot: Sequence[float]) -> float:
    """FWT: mean over tasks after the first of A[i-1][i] - zero_shot[i], what the earlier steps
    did for a task before it was learned, against the base alone (0 for one task)."""
    size = _check_square(matrix)
    if len(zero_shot) != size:
        raise ValueError(f"{len(zero_shot)} Zero-shot accuracies for {size} tasks")
    if size == 1:
        return 0.0
    return fmean(matrix[i - 1][i] - zero_shot[i] for i in range(1, size))


def forgetting(matrix: Matrix) -> list[float]:
    """Per task learned before the last: the largest drop from any accuracy it had since it was
    learned to its final one, max over l in [j, T-1) of A[l][j] - A[T][j] (0: nothing lost)."""
    size = _check_square(matrix)
    return [
        max(matrix[step][j] for step in range(j, size - 1)) - matrix[-1][j] for j in range(size - 1)
    ]


def continual_metrics(matrix: Matrix) -> ContinualMetrics:
    return ContinualMetrics(
        MFT=mean_final_train(matrix),
        MFN=mean_final(matrix),
        MAA=mean_average_accuracy(matrix),
        BWT=backward_transfer(matrix),
    )


def defined(values: Sequence[float | None]) -> list[float] | None:
    """A metric's values over several runs, or None where a run does not define it (a method
    that learns every task at once has no BWT)."""
    if any(v is None for v in values):
        return None
    return [v for v in values if v is not None]
