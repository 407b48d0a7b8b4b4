"""Continual-learning metrics over the accuracy matrix A[i][j] = accuracy on task j after learning
task i (docs/method.md, "Continual metrics"). Entries for tasks not yet learned (j > i) are
ignored by every metric."""

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


def continual_metrics(matrix: Matrix) -> ContinualMetrics:
    return ContinualMetrics(
        MFT=mean_final_train(matrix),
        MFN=mean_final(matrix),
        MAA=mean_average_accuracy(matrix),
        BWT=backward_transfer(matrix),
    )
