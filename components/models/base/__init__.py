"""The base MLLM: loading any Hugging Face LLaVA, and building the tiny CPU one (its
architecture, tokenizer, pretraining mixture and build)."""
