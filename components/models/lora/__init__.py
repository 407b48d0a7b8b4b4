"""LoRA adapters on the base: presets, the peft configuration, training (HF Trainer) and loading."""
