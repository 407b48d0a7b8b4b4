"""Benchmark data: the generator, the MLLM-CL reader and validator, HF datasets, DVC versions."""
