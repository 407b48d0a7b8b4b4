"""Locks that serialise the pipeline's writers: one arrival, retrain, benchmark run or prepare
of a benchmark at a time (they share its data folder, its experts and its champion), and one
writer of the DVC-tracked data folder at a time (every benchmark lives under it). A second
comer waits, saying for whom, and gives up with `Busy` after the configured timeout.

The locks are re-entrant in the thread that holds them, so a flow that holds its benchmark's
lock can run the prepare flow, which takes the same lock."""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

from filelock import FileLock, Timeout

from components.settings import Settings


class Busy(RuntimeError):
    """Another run holds the lock longer than this one was willing to wait."""


def _holder(path: Path) -> str:
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
        since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(info["since"]))
        return f"{info['what']} (pid {info['pid']} on {info['host']}, since {since})"
    except (OSError, ValueError, KeyError, TypeError):
        return "another run"


@contextmanager
def _held(
    path: Path, what: str, timeout: float, notify: Callable[[str], None] | None
) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(path.parent / f"{path.name}.lock", is_singleton=True)
    holder = path.parent / f"{path.name}.holder"
    try:
        lock.acquire(timeout=0)
    except Timeout:
        if notify is not None:
            notify(f"waiting for {_holder(holder)} to finish (up to {timeout:g} s)")
        try:
            lock.acquire(timeout=timeout)
        except Timeout:
            raise Busy(
                f"{path.name} is busy: {_holder(holder)} holds it; waited {timeout:g} s "
                "(MLLMCL_LOCK_TIMEOUT_S sets how long to wait)"
            ) from None
    try:
        if lock.lock_counter == 1:
            record = {"what": what, "pid": os.getpid(), "host": socket.gethostname()}
            holder.write_text(json.dumps(record | {"since": time.time()}), encoding="utf-8")
        yield
    finally:
        lock.release()


def benchmark_lock(
    settings: Settings, benchmark: str, what: str, notify: Callable[[str], None] | None = None
) -> AbstractContextManager[None]:
    """Held by whatever changes a benchmark: its data, experts, router, bundles, aliases."""
    path = settings.staging_dir / "locks" / f"benchmark-{benchmark}"
    return _held(path, what, settings.lock_timeout_s, notify)


def data_lock(
    settings: Settings, what: str, notify: Callable[[str], None] | None = None
) -> AbstractContextManager[None]:
    """Held while the data folder is swapped, versioned (dvc add) and pushed."""
    return _held(settings.staging_dir / "locks" / "data", what, settings.lock_timeout_s, notify)


def job_lock(settings: Settings, kind: str, key: str, what: str) -> AbstractContextManager[None]:
    """Held while a job does the work of its key, under the models folder (shared by a
    cluster's nodes): a second job of the same key (parallel runs that reach the same expert)
    waits for it, however long, then finds its result. A holder that dies lets it go."""
    return _held(settings.models_dir / ".locks" / f"{kind}-{key}", what, -1, None)
