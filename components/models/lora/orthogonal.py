"""Orthogonal subspaces for LoRA, O-LoRA (Wang et al., 2023, "Orthogonal Subspace Learning for
Language Model Continual Learning"): each task learns a new LoRA while the earlier tasks' LoRAs
stay frozen and keep adding their updates, and a loss keeps the new LoRA's A subspace
orthogonal to theirs: L = L_task + lambda * sum over layers of ||A_old A_new^T||_F^2 (the paper's
L_orth, with peft's A whose rows span the subspace).

The earlier LoRAs are held as the leading rows of A and columns of B of one LoRA whose rank grows
by the task rank at each task (the sum of LoRAs of one scaling is the LoRA of their stacked
factors; alpha grows with the rank, so the scaling stays alpha / r). That keeps every step's
adapter one ordinary peft LoRA, which the scoring code loads like any other; the leading rows and
columns get no gradient. Modules an adapter trains in full (the projector, the vocabulary copies
of the CPU presets) have no low-rank subspace: they continue from the previous task as in LoRA-FT.
The paper's second term (an L2 penalty on the new LoRA, lambda_2) is left out, as in its default
settings (lambda_2 = 0)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import cast

import torch
from peft import PeftModel, get_peft_model, get_peft_model_state_dict, set_peft_model_state_dict
from peft.tuners.lora import LoraLayer
from safetensors import safe_open
from torch import nn
from transformers import PreTrainedModel

from components.models.lora.adapters import ADAPTER_WEIGHTS
from components.models.lora.mixture import adapter_config
from components.models.lora.peft_config import lora_config
from components.models.lora.settings import AdapterSettings

ADAPTER_NAME = "default"


def _is_lora_factor(key: str) -> bool:
    return ".lora_A." in key or ".lora_B." in key


def frozen_parameters(previous: Path) -> int:
    """How many LoRA weights the earlier tasks hold (they stay fixed in the next task)."""
    with safe_open(str(previous / ADAPTER_WEIGHTS), framework="pt") as weights:
        return sum(
            weights.get_slice(key).get_shape()[0] * weights.get_slice(key).get_shape()[1]
            for key in weights.keys()  # noqa: SIM118 (a safetensors handle, not a dict)
            if _is_lora_factor(key)
        )


def grown_settings(settings: AdapterSettings, previous_rank: int) -> AdapterSettings:
    """The LoRA that holds the earlier tasks' `previous_rank` and a new task rank, at the
    scaling of one task's LoRA."""
    if previous_rank % settings.rank:
        raise ValueError(
            f"the earlier LoRA's rank {previous_rank} is not a multiple of the task rank "
            f"{settings.rank}: was it trained with other settings?"
        )
    rank = previous_rank + settings.rank
    return settings.model_copy(
        update={"rank": rank, "alpha": settings.alpha * rank // settings.rank}
    )


def _factors(model: torch.nn.Module) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Each LoRA layer's A (rank x in) and B (out x rank) weights."""
    for module in model.modules():
        if isinstance(module, LoraLayer) and ADAPTER_NAME in module.lora_A:
            a, b = module.lora_A[ADAPTER_NAME], module.lora_B[ADAPTER_NAME]
            yield cast(nn.Linear, a).weight, cast(nn.Linear, b).weight


class Orthogonal:
    """How O-LoRA's next task trains, after the earlier tasks' LoRA saved in `previous`."""

    def __init__(self, previous: Path, settings: AdapterSettings, strength: float) -> None:
        if settings.train.weight_decay:
            raise ValueError(
                "O-LoRA keeps the earlier tasks' rows fixed by giving them no gradient; a weight "
                "decay would still shrink them: train it with weight_decay 0"
            )
        self.previous = previous
        self.rank = adapter_config(previous).r
        self.settings = grown_settings(settings, self.rank)
        self.strength = strength

    def start(self, model: PreTrainedModel) -> PeftModel:
        """The grown LoRA on `model`: the earlier tasks' factors in its leading rows (A) and
        columns (B), frozen; the new rows freshly initialised; the fully trained modules
        continued."""
        peft_model = get_peft_model(model, lora_config(self.settings))
        state = get_peft_model_state_dict(peft_model)
        old = self.rank
        with safe_open(str(self.previous / ADAPTER_WEIGHTS), framework="pt") as weights:
            for key in weights.keys():  # noqa: SIM118 (a safetensors handle, not a dict)
                earlier = weights.get_tensor(key)
                if ".lora_A." in key:
                    state[key][:old] = earlier
                elif ".lora_B." in key:
                    state[key][:, :old] = earlier
                else:
                    state[key] = earlier
        set_peft_model_state_dict(peft_model, state)
        for a, b in _factors(peft_model):
            a.register_hook(lambda grad: torch.cat([torch.zeros_like(grad[:old]), grad[old:]]))
            b.register_hook(
                lambda grad: torch.cat([torch.zeros_like(grad[:, :old]), grad[:, old:]], dim=1)
            )
        return peft_model

    def overlap(self, model: torch.nn.Module) -> torch.Tensor:
        """sum over layers of ||A_old A_new^T||_F^2: zero when every new row is orthogonal to
        the earlier tasks' subspace."""
        old = self.rank
        terms = [(a[:old].detach() @ a[old:].T).pow(2).sum() for a, _ in _factors(model)]
        return torch.stack(terms).sum()

    def penalty(self, model: torch.nn.Module) -> torch.Tensor:
        return self.strength * self.overlap(model)
