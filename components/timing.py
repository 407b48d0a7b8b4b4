"""Wall time per pipeline stage, for reports, and the stages as they start and finish on the
`mllmcl.progress` logger (the command line shows them; a worker's log records them)."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager

progress = logging.getLogger("mllmcl.progress")


@contextmanager
def stage(name: str, timings: dict[str, float] | None = None) -> Iterator[None]:
    """Announce the block's start and end; add the seconds it took to `timings[name]`."""
    started = time.perf_counter()
    progress.info("%s ...", name, extra={"stage": name, "stage_event": "start"})
    outcome = "failed"
    try:
        yield
        outcome = "done"
    finally:
        seconds = time.perf_counter() - started
        if timings is not None:
            timings[name] = timings.get(name, 0.0) + seconds
        progress.info(
            "%s: %s in %.0f s",
            name,
            outcome,
            seconds,
            extra={"stage": name, "stage_event": outcome, "seconds": seconds},
        )
