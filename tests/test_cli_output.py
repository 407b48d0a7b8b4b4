"""A flow-running command shows its stages, warnings and results; library output goes to the
log file."""

import subprocess
import sys
from pathlib import Path

SCRIPT = """
import logging, os, subprocess, sys
from pathlib import Path
from cli.output import console, pipeline_output
from components.timing import stage

with pipeline_output(Path(sys.argv[1])):
    with stage("outer"):
        with stage("inner"):
            print("a library prints")
            os.write(2, b"a C extension writes to fd 2\\n")
            subprocess.run([sys.executable, "-c", "print('a child process prints')"], check=True)
            logging.getLogger("prefect.flow_runs").warning("a library warns")
console.print("the result table")
"""


def _run(script: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", script, *args],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).parents[1],
    )


def test_the_console_shows_stages_and_results_and_the_log_the_rest(tmp_path):
    log_file = tmp_path / "logs" / "run.log"
    done = _run(SCRIPT, str(log_file))
    lines = done.stdout.splitlines()
    assert lines[0].startswith("library output: ") and str(log_file) in lines[0]
    assert lines[1] == "warning: a library warns"  # warnings and errors stay in sight
    assert lines[2].startswith("  ✓ inner (") and lines[3].startswith("✓ outer (")
    assert lines[4] == "the result table"
    assert done.stderr == ""
    log = log_file.read_text()
    for text in ("a library prints", "fd 2", "a child process prints"):
        assert text in log and text not in done.stdout
    assert "a library warns" in log
    assert "inner: done in" in log  # the stages are in the log too


def test_streams_a_test_runner_replaced_are_left_alone(monkeypatch):
    import io

    from cli.output import owns_the_terminal_streams

    monkeypatch.setattr(sys, "stdout", io.StringIO())  # as typer's CliRunner does
    assert not owns_the_terminal_streams()


def test_verbose_shows_everything_live():
    done = _run(SCRIPT.replace("Path(sys.argv[1])", "None"))
    assert "a library prints" in done.stdout and "a child process prints" in done.stdout
    assert "✓ outer" in done.stdout and "a C extension writes to fd 2" in done.stderr
