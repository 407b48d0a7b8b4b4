"""Models: the base LLaVA (any HF checkpoint, or the tiny CPU one), LoRA experts, the router and
two-stage inference."""
