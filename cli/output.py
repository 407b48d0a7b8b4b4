"""What a person sees. The commands that run flows show the pipeline's stages as they finish and
then their results; everything else (Trainer progress bars, Prefect, MLflow and DVC logs,
warnings, the output of child processes) goes to a log file, unless `--verbose`."""

from __future__ import annotations

import io
import logging
import os
import sys
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.status import Status

console = Console(soft_wrap=True)
errors = Console(stderr=True, soft_wrap=True)
PROGRESS_LOGGER = "mllmcl.progress"  # components.timing announces the stages on it


class StageDisplay(logging.Handler):
    """A spinner names the stage that is running; a line says how each one ended, indented
    under the stage it belongs to."""

    def __init__(self, status: Status) -> None:
        super().__init__(logging.INFO)
        self.status = status
        self.open: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        name, event = getattr(record, "stage", None), getattr(record, "stage_event", None)
        if name is None or event is None:
            return
        if event == "start":
            self.open.append(name)
            self.status.update(f"{name} ...")
            return
        if name in self.open:
            self.open.remove(name)
        mark = "[green]✓[/]" if event == "done" else "[red]✗[/]"
        seconds = getattr(record, "seconds", 0.0)
        console.print(f"{'  ' * len(self.open)}{mark} {name} [dim]({seconds:.0f} s)[/]")
        self.status.update(f"{self.open[-1]} ..." if self.open else "")


class ConsoleWarnings(logging.Handler):
    """Warnings and errors that any library logs (a run waiting for another's lock, a failed
    task) still reach the console when the rest of their output goes to the log file."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)

    def emit(self, record: logging.LogRecord) -> None:
        colour = "yellow" if record.levelno < logging.ERROR else "red"
        console.print(f"[{colour}]{record.levelname.lower()}:[/] {escape(record.getMessage())}")


def owns_the_terminal_streams() -> bool:
    """False when a test runner has replaced the process's streams with its own."""
    try:
        return sys.stdout.fileno() == 1 and sys.stderr.fileno() == 2
    except (AttributeError, OSError, io.UnsupportedOperation):
        return False


@contextmanager
def _descriptors_to(log_file: Path) -> Iterator[None]:
    """Point file descriptors 1 and 2 at `log_file` (so every library and child process writes
    there) while the consoles keep writing to the terminal."""
    sys.stdout.flush()
    sys.stderr.flush()
    terminal_out = os.fdopen(os.dup(1), "w", buffering=1, encoding=sys.stdout.encoding)
    terminal_err = os.fdopen(os.dup(2), "w", buffering=1, encoding=sys.stderr.encoding)
    with log_file.open("ab") as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
    console.file, errors.file = terminal_out, terminal_err
    try:
        yield
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(terminal_out.fileno(), 1)
        os.dup2(terminal_err.fileno(), 2)
        console.file, errors.file = sys.stdout, sys.stderr
        terminal_out.close()
        terminal_err.close()
        _only_warnings_from_libraries()


def _only_warnings_from_libraries() -> None:
    """What libraries still log on the way out (a temporary Prefect server stopping) stays
    off the terminal unless it is a warning."""
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.StreamHandler):
            handler.setLevel(max(handler.level, logging.WARNING))


def log_file_for(reports_dir: Path, command: str) -> Path:
    return reports_dir / "logs" / f"{time.strftime('%Y%m%d-%H%M%S')}-{command}.log"


@contextmanager
def pipeline_output(log_file: Path | None) -> Iterator[None]:
    """Run a flow-running command: the stages on the console, library output in `log_file`
    (None: everything live, as `--verbose` asks)."""
    progress = logging.getLogger(PROGRESS_LOGGER)
    progress.setLevel(logging.INFO)
    quiet = log_file is not None and owns_the_terminal_streams()
    redirect: AbstractContextManager[None] = nullcontext()
    added: list[tuple[logging.Logger, logging.Handler]] = []
    if quiet and log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        console.print(f"[dim]library output: {log_file} (--verbose shows it here)[/]")
        redirect = _descriptors_to(log_file)
        added.append((progress, logging.StreamHandler(sys.stderr)))  # the stages in the log too
        root = logging.getLogger()
        if not root.handlers:  # what Python prints as a last resort goes into the log as well
            last_resort = logging.StreamHandler(sys.stderr)
            last_resort.setLevel(logging.WARNING)
            added.append((root, last_resort))
        added.append((root, ConsoleWarnings()))
    with redirect, console.status("working ...") as status:
        added.append((progress, StageDisplay(status)))
        for logger, handler in added:
            logger.addHandler(handler)
        try:
            yield
        finally:
            for logger, handler in added:
                logger.removeHandler(handler)
