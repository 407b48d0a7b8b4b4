"""The image features a LLaVA's projector reads, computed apart from the language model so that
several adapters can share them."""

from __future__ import annotations

from typing import Any

import torch


def vision_states(llava: Any, pixel_values: torch.Tensor) -> torch.Tensor:
    """The image features LLaVA hands its projector: the configured layer(s) of the vision
    tower, without the class token under the default strategy."""
    config = llava.config
    hidden = llava.model.vision_tower(pixel_values, output_hidden_states=True).hidden_states
    layers = config.vision_feature_layer
    selected = [hidden[layer] for layer in ([layers] if isinstance(layers, int) else layers)]
    if config.vision_feature_select_strategy == "default":
        selected = [h[:, 1:] for h in selected]
    return torch.cat(selected, dim=-1)
