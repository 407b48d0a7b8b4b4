"""File names and record shapes of the MLLM-CL on-disk layout, as the benchmark's download
organises it (see docs/data.md for the trees of both tracks)."""

from __future__ import annotations

TRAIN_FILE = "train.json"
TEST_FILE = "test.json"
TEST_FOLDER_SUFFIX = "_test"  # the ability track keeps each test split in <Task>_test/
BENCHMARK_FILE = "benchmark.json"  # optional: track, task order, task specs, other names
IMAGE_TOKEN = "<image>"
SPLITS = ("train", "test", "router", "replay")

# The download's root-level sets, per track: the router's replay (its images in their own
# folder) and the replay set of the replay baselines (image paths relative to the root).
OFFICIAL_ROUTER_SETS = {
    "domain": ("task5Router_train20.json", "num5sample_images20"),
    "ability": ("Router_train20.json", "sample_images20"),
}
OFFICIAL_REPLAY_SETS = {"domain": "task5replay20_train.json", "ability": "replay20.json"}
