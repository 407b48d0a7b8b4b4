"""The share of low-confidence routings among a served bundle's latest answers: a rising share is
a sign that inputs of a task no expert learned are arriving."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Sequence

Report = Callable[[float, int], None]  # (share of the window in percent, answers so far)


class ConfidenceWindow:
    """Watches every answer's low-confidence flag; each time `size` more answers have come, it
    reports the share of low-confidence ones among the last `size`. Requests are answered from
    several threads, so it counts under a lock (the report runs outside it)."""

    def __init__(self, size: int, report: Report) -> None:
        if size < 1:
            raise ValueError(f"a confidence window holds at least one answer, not {size}")
        self.size = size
        self.report = report
        self._latest: deque[bool] = deque(maxlen=size)
        self._answers = 0
        self._lock = threading.Lock()

    def observe(self, low_confidence: Sequence[bool]) -> None:
        due: list[tuple[float, int]] = []
        with self._lock:
            for flag in low_confidence:
                self._latest.append(bool(flag))
                self._answers += 1
                if self._answers % self.size == 0:
                    due.append((100.0 * sum(self._latest) / self.size, self._answers))
        for share, answers in due:
            self.report(share, answers)
