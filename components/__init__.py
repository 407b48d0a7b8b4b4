"""MR-LoRA continual learning for multimodal LLMs: the work itself, importable without Prefect."""
