"""One model, one worker: requests from any number of threads wait in a queue, and the worker
answers whatever is waiting together (up to a row budget) in one call, then hands each request
its own rows back. The model is never used by two threads at once, and concurrent clients share
batches instead of taking turns."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


class QueueFull(RuntimeError):
    """Too many requests are waiting: the caller should retry later (HTTP 503)."""


class QueueTimeout(TimeoutError):
    """A request waited longer than its timeout; it was withdrawn if not yet started."""


@dataclass
class _Request(Generic[Item, Result]):
    items: Sequence[Item]
    future: Future[list[Result]]


class BatchingQueue(Generic[Item, Result]):
    def __init__(
        self,
        answer: Callable[[list[Item]], list[Result]],
        max_batch_items: int,
        max_waiting: int,
    ) -> None:
        self._answer = answer
        self._max_batch_items = max_batch_items
        self._max_waiting = max_waiting
        self._waiting: deque[_Request[Item, Result]] = deque()
        self._ready = threading.Condition()
        self._worker = threading.Thread(target=self._work, name="bundle-worker", daemon=True)
        self._worker.start()

    def submit(self, items: Sequence[Item], timeout: float) -> list[Result]:
        """Blocks until this request's results are ready; raises what answering raised."""
        request: _Request[Item, Result] = _Request(items, Future())
        with self._ready:
            if len(self._waiting) >= self._max_waiting:
                raise QueueFull(f"{len(self._waiting)} requests are waiting: try again shortly")
            self._waiting.append(request)
            self._ready.notify()
        try:
            return request.future.result(timeout=timeout)
        except FutureTimeout:
            request.future.cancel()  # withdrawn unless the worker has started on it
            raise QueueTimeout(f"no answer within {timeout:g} s") from None

    def _take(self) -> list[_Request[Item, Result]]:
        """The oldest waiting request, and those after it that fit in the row budget."""
        with self._ready:
            while not self._waiting:
                self._ready.wait()
            taken: list[_Request[Item, Result]] = []
            rows = 0
            while self._waiting:
                request = self._waiting[0]
                if taken and rows + len(request.items) > self._max_batch_items:
                    break
                self._waiting.popleft()
                if request.future.set_running_or_notify_cancel():
                    taken.append(request)
                    rows += len(request.items)
            return taken

    def _work(self) -> None:
        while True:
            batch = self._take()
            if batch:
                self._answer_together(batch)

    def _answer_together(self, batch: list[_Request[Item, Result]]) -> None:
        """One call for the whole batch; if it fails, each request alone, so that a request
        that breaks the model fails by itself and not the others that shared its batch."""
        items = [item for request in batch for item in request.items]
        try:
            results = self._answer(items)
        except Exception as error:
            if len(batch) == 1:
                batch[0].future.set_exception(error)
            else:
                for request in batch:
                    self._answer_together([request])
            return
        start = 0
        for request in batch:
            request.future.set_result(results[start : start + len(request.items)])
            start += len(request.items)
