"""The low-confidence share a served bundle reports over its latest answers."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from components.serving.confidence import ConfidenceWindow


def test_the_share_of_each_window_is_reported_as_the_answers_come():
    reports: list[tuple[float, int]] = []
    window = ConfidenceWindow(4, lambda share, answers: reports.append((share, answers)))
    window.observe([True, False, False])
    assert reports == []  # three answers: no window full yet
    window.observe([False, True, True, True, True, False])
    # after 4 answers: T F F F -> 25%; after 8: the last four, T T T T -> 100%
    assert reports == [(25.0, 4), (100.0, 8)]


def test_answers_from_many_threads_are_all_counted():
    reports: list[tuple[float, int]] = []
    window = ConfidenceWindow(10, lambda share, answers: reports.append((share, answers)))
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda _: window.observe([True] * 5 + [False] * 5), range(40)))
    assert sorted(answers for _, answers in reports) == list(range(10, 401, 10))
    assert all(0 <= share <= 100 for share, _ in reports)


def test_a_window_holds_at_least_one_answer():
    with pytest.raises(ValueError, match="at least one answer"):
        ConfidenceWindow(0, lambda share, answers: None)
