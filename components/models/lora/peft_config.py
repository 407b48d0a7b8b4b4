"""LoRA settings: which modules an adapter touches, and the presets (docs/method.md)."""

from __future__ import annotations

from peft import LoraConfig

from components.models.lora.settings import AdapterSettings

LINEARS = "(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj)"
VISION_LINEARS = r".*vision_tower.*\.(q_proj|k_proj|v_proj|out_proj|fc1|fc2)"
PROJECTOR = "multi_modal_projector"
VOCABULARY = ["embed_tokens", "lm_head"]


def language_linears(layers: int | None = None) -> str:
    """The language model's linear layers: of every decoder layer, or of the first `layers`."""
    if layers is None:
        return rf".*language_model.*\.{LINEARS}"
    indices = "|".join(str(i) for i in range(layers))
    return rf".*language_model.*\.layers\.({indices})\..*\.{LINEARS}"


def lora_config(settings: AdapterSettings, language_layers: int | None = None) -> LoraConfig:
    """LoRA on every linear layer of the language model (or of its first `language_layers`
    layers; optionally the vision tower too), never lm_head; the projector is trained in full
    and saved with the adapter."""
    target = language_linears(language_layers)
    target += f"|{VISION_LINEARS}" if settings.vision else ""
    return LoraConfig(
        r=settings.rank,
        lora_alpha=settings.alpha,
        lora_dropout=settings.dropout,
        target_modules=target,
        modules_to_save=[PROJECTOR, *(VOCABULARY if settings.train_vocabulary else [])],
        task_type="CAUSAL_LM",
    )
