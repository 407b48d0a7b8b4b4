"""LoRA settings: which modules an adapter touches, and the presets (docs/method.md)."""

from __future__ import annotations

from peft import LoraConfig

from components.models.lora.settings import AdapterSettings

LANGUAGE_LINEARS = r".*language_model.*\.(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj)"
VISION_LINEARS = r".*vision_tower.*\.(q_proj|k_proj|v_proj|out_proj|fc1|fc2)"
PROJECTOR = "multi_modal_projector"
VOCABULARY = ["embed_tokens", "lm_head"]


def lora_config(settings: AdapterSettings) -> LoraConfig:
    """LoRA on every linear layer of the language model (optionally the vision tower), never
    lm_head; the projector is trained in full and saved with the adapter."""
    target = LANGUAGE_LINEARS + (f"|{VISION_LINEARS}" if settings.vision else "")
    return LoraConfig(
        r=settings.rank,
        lora_alpha=settings.alpha,
        lora_dropout=settings.dropout,
        target_modules=target,
        modules_to_save=[PROJECTOR, *(VOCABULARY if settings.train_vocabulary else [])],
        task_type="CAUSAL_LM",
    )
