"""The served bundle's queue: one worker runs the model, requests from many threads are answered
together, and each gets exactly its own results back."""

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from components.serving.queue import BatchingQueue, QueueFull, QueueTimeout


class Recorder:
    """A stand-in for the model: records each call's size and which thread made it."""

    def __init__(self, delay: float = 0.0) -> None:
        self.calls: list[int] = []
        self.threads: set[str] = set()
        self.delay = delay
        self.busy = threading.Lock()

    def __call__(self, items):
        assert self.busy.acquire(blocking=False), "two threads ran the model at once"
        try:
            self.calls.append(len(items))
            self.threads.add(threading.current_thread().name)
            time.sleep(self.delay)
            return [f"answer to {item}" for item in items]
        finally:
            self.busy.release()


def test_concurrent_requests_get_their_own_answers_from_one_worker():
    model = Recorder(delay=0.02)
    queue = BatchingQueue(model, max_batch_items=64, max_waiting=100)
    requests = [[f"{client}-{row}" for row in range(5)] for client in range(40)]
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda items: queue.submit(items, timeout=30), requests))
    assert answers == [[f"answer to {item}" for item in items] for items in requests]
    assert model.threads == {"bundle-worker"}
    assert sum(model.calls) == 200 and len(model.calls) < 40  # waiting requests shared calls
    assert max(model.calls) <= 64


def test_a_request_larger_than_the_budget_runs_alone():
    model = Recorder()
    queue = BatchingQueue(model, max_batch_items=4, max_waiting=10)
    assert queue.submit(list(range(10)), timeout=10) == [f"answer to {i}" for i in range(10)]
    assert model.calls == [10]


def test_a_failing_request_fails_alone_and_the_worker_goes_on():
    gate = threading.Event()

    def flaky(items):
        gate.wait(10)  # let the requests pile up into one batch
        if "bad" in items:
            raise RuntimeError("model failed")
        return [f"answer to {item}" for item in items]

    queue = BatchingQueue(flaky, max_batch_items=8, max_waiting=10)
    outcomes = {}

    def ask(item):
        try:
            outcomes[item] = queue.submit([item], timeout=10)
        except RuntimeError as error:
            outcomes[item] = str(error)

    threads = [threading.Thread(target=ask, args=(item,)) for item in ("first", "good", "bad")]
    for thread in threads:
        thread.start()
        time.sleep(0.05)
    gate.set()
    for thread in threads:
        thread.join()
    assert outcomes == {
        "first": ["answer to first"],
        "good": ["answer to good"],
        "bad": "model failed",
    }
    assert queue.submit(["later"], timeout=10) == ["answer to later"]


def test_a_full_queue_refuses_and_a_late_request_is_withdrawn():
    gate = threading.Event()
    model = Recorder()

    def slow(items):
        gate.wait(10)
        return model(items)

    queue = BatchingQueue(slow, max_batch_items=1, max_waiting=1)
    first = threading.Thread(target=lambda: queue.submit(["first"], timeout=10))
    first.start()
    time.sleep(0.2)  # the worker holds "first"
    outcome = []

    def late():
        try:
            queue.submit(["late"], timeout=0.3)
        except QueueTimeout:
            outcome.append("timed out")

    second = threading.Thread(target=late)
    second.start()
    time.sleep(0.1)  # "late" waits in the queue
    with pytest.raises(QueueFull):
        queue.submit(["third"], timeout=1)
    second.join()
    gate.set()
    first.join()
    assert queue.submit(["after"], timeout=10) == ["answer to after"]
    assert outcome == ["timed out"]
    assert model.calls == [1, 1]  # "late" was withdrawn, never answered
