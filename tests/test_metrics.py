import pytest

from components.evaluation.metrics import (
    backward_transfer,
    continual_metrics,
    forgetting,
    forward_transfer,
    mean_average_accuracy,
    mean_final,
    mean_final_train,
)

# A[i][j]: accuracy on task j after learning task i; entries above the diagonal are not yet learned.
MATRIX = [
    [80.0, 5.0, 1.0],
    [70.0, 90.0, 2.0],
    [60.0, 85.0, 75.0],
]


def test_hand_computed_three_tasks():
    metrics = continual_metrics(MATRIX)
    assert pytest.approx((80 + 90 + 75) / 3) == metrics.MFT
    assert pytest.approx((60 + 85 + 75) / 3) == metrics.MFN
    assert pytest.approx((80 + (70 + 90) / 2 + (60 + 85 + 75) / 3) / 3) == metrics.MAA
    assert pytest.approx(((60 - 80) + (85 - 90)) / 2) == metrics.BWT


def test_entries_above_the_diagonal_do_not_count():
    changed = [row[:] for row in MATRIX]
    changed[0][2] = 99.0
    changed[1][2] = 42.0
    assert continual_metrics(changed) == continual_metrics(MATRIX)


def test_published_domain_check():
    """T=5: final-row mean 53.00 and diagonal mean 64.98 give BWT -14.97 (the paper's LoRA-FT)."""
    diagonal = [70.0, 66.0, 60.0, 62.9, 66.0]  # mean 64.98
    final = [50.0, 45.0, 48.0, 56.0, 66.0]  # mean 53.00; A[T][T] = diagonal[-1]
    matrix = [[0.0] * 5 for _ in range(5)]
    for i in range(5):
        matrix[i][i] = diagonal[i]
    matrix[4] = final
    assert mean_final_train(matrix) == pytest.approx(64.98)
    assert mean_final(matrix) == pytest.approx(53.00)
    assert backward_transfer(matrix) == pytest.approx(-14.97, abs=0.01)


def test_single_task_and_no_forgetting():
    assert backward_transfer([[50.0]]) == 0.0
    assert mean_average_accuracy([[50.0]]) == 50.0
    assert backward_transfer([[80.0, 0.0], [80.0, 70.0]]) == 0.0


def test_matrix_must_be_square():
    with pytest.raises(ValueError, match="row 1 has 1 entries"):
        continual_metrics([[1.0, 2.0], [3.0]])
    with pytest.raises(ValueError, match="empty"):
        continual_metrics([])


def test_forward_transfer_reads_each_task_just_before_it_is_learned():
    zero_shot = [10.0, 4.0, 3.0]
    # A[0][1] - 4 and A[1][2] - 3: what learning tasks 1 and 2 did for the next one
    assert forward_transfer(MATRIX, zero_shot) == pytest.approx(((5 - 4) + (2 - 3)) / 2)
    assert forward_transfer([[50.0]], [20.0]) == 0.0
    with pytest.raises(ValueError, match="2 Zero-shot accuracies for 3 tasks"):
        forward_transfer(MATRIX, zero_shot[:2])


def test_forgetting_is_the_largest_drop_since_learned():
    matrix = [
        [80.0, 0.0, 0.0],
        [90.0, 70.0, 0.0],  # task 0 improved after it was learned, then fell
        [60.0, 75.0, 50.0],  # task 1 ends above where it was
    ]
    assert forgetting(matrix) == [90.0 - 60.0, 70.0 - 75.0]
    assert forgetting([[50.0]]) == []
