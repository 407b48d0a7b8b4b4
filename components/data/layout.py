"""File names and record shapes of the MLLM-CL on-disk layout (DESIGN §3)."""

from __future__ import annotations

TRAIN_FILE = "train.json"
TEST_FILE = "test.json"
REPLAY_FILE = "replay.json"  # optional: the router's replay samples; else drawn from train
BENCHMARK_FILE = "benchmark.json"  # optional: track, task order and task specs
IMAGE_TOKEN = "<image>"
SPLITS = ("train", "test", "router")
