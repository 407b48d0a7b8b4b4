"""The benchmark scripts still run (at toy sizes; their figures are in benchmarks/results/)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration  # whole scripts, each in a process of its own

REPO = Path(__file__).resolve().parents[1]


def _run(script: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    command = [sys.executable, f"benchmarks/{script}", *args]
    return subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)


def test_vision_learnability_trains_the_tower_and_the_cnn():
    toy = ["--items", "30", "--steps", "3", "--test-items", "30"]
    done = _run("vision_learnability.py", "--task", "Fin", "--ask", "trend", *toy)
    assert done.returncode == 0, done.stderr
    assert "tiny tower" in done.stdout and "small CNN" in done.stdout
    refused = _run("vision_learnability.py", "--task", "Fin", "--ask", "nuclei", "--items", "5")
    assert refused.returncode == 2
    assert "no Fin question contains 'nuclei'" in refused.stderr


def test_vision_learnability_probes_a_frozen_base():
    toy = ["--items", "30", "--steps", "3", "--test-items", "30"]
    shipped = "components/models/base/shipped"
    done = _run(
        "vision_learnability.py", "--task", "Fin", "--ask", "trend", *toy, "--frozen", shipped
    )
    assert done.returncode == 0, done.stderr
    assert "frozen tower" in done.stdout and "small CNN" not in done.stdout


def test_the_arrival_projection_follows_its_figures():
    # 3600 samples at 1/s: an hour on one GPU, half on two (nothing else costs anything here)
    free = ["--load", "0", "--ray-train-start", "0", "--efficiency", "1", "--test-samples", "0"]
    done = _run(
        "project_arrival.py",
        "--train-rate",
        "1",
        "--train-samples",
        "3600",
        "--seen",
        "1",
        "--gpus",
        "1",
        "2",
        *free,
    )
    assert done.returncode == 0, done.stderr
    # the router: 20 samples x 1 task x 40 epochs at 1/s = 800 s on top
    assert "| 3,600 | 1 | 13 min | 0 min | 1.2 h | 0.7 h |" in done.stdout
