"""The benchmark lock: re-entrant in its thread, exclusive across threads and processes, and a
waiter is told for whom it waits, then refused with `Busy` after the timeout."""

import threading

import pytest

from components.locking import Busy, benchmark_lock, data_lock


def test_reentrant_in_its_thread(settings):
    settings = settings.model_copy(update={"lock_timeout_s": 0.2})  # a self-deadlock raises Busy
    with benchmark_lock(settings, "domain", "outer"), benchmark_lock(settings, "domain", "inner"):
        pass


def test_a_second_comer_waits_with_a_message_then_gives_up(settings):
    settings = settings.model_copy(update={"lock_timeout_s": 0.3})
    holding, release = threading.Event(), threading.Event()

    def hold():
        with benchmark_lock(settings, "domain", "the arrival of RS"):
            holding.set()
            release.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    holding.wait(10)
    said = []
    try:
        busy = r"benchmark-domain is busy: the arrival of RS \(pid \d+"
        with (
            pytest.raises(Busy, match=busy),
            benchmark_lock(settings, "domain", "the arrival of Med", said.append),
        ):
            pass
        with benchmark_lock(settings, "other", "another benchmark"):  # not blocked
            pass
    finally:
        release.set()
        holder.join()
    assert said and said[0].startswith("waiting for the arrival of RS (pid")
    with benchmark_lock(settings, "domain", "after"):
        pass


def test_the_data_lock_is_one_for_every_benchmark(settings):
    settings = settings.model_copy(update={"lock_timeout_s": 0.2})
    holding, release = threading.Event(), threading.Event()

    def hold():
        with data_lock(settings, "versioning domain"):
            holding.set()
            release.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    holding.wait(10)
    try:
        with pytest.raises(Busy, match="versioning domain"), data_lock(settings, "other"):
            pass
    finally:
        release.set()
        holder.join()
