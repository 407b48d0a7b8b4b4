"""A mixture of LoRA experts in each adapted layer, MoELoRA as CoIN uses it (Chen et al., 2024,
"CoIN: A Benchmark of Continual Instruction tuNing for Multimodal Large Language Model"): the
layer's rank-r LoRA is split into E experts of rank r/E (A's rows and B's columns in E blocks),
and a gate, a linear map of the layer's input followed by a softmax, weighs each expert per
token: h = W x + scaling * sum_e g_e(x) B_e A_e x, with sum_e g_e(x) = 1. The gate is trained
with the experts. It lives in peft's LoRA format (the gate as `lora_gate`, saved beside A and B;
the expert count in adapter_config.json), so it trains, saves and loads like any adapter here;
it cannot be merged into the base weights, since the mixture depends on the input."""

from __future__ import annotations

import dataclasses
import functools
import json
from pathlib import Path
from typing import Any, cast

import torch
from peft import LoraConfig
from peft.tuners import lora
from torch import nn

EXPERTS_FIELD = "experts"


@dataclasses.dataclass
class MixtureLoraConfig(LoraConfig):
    """A LoRA config whose linear layers are mixtures of `experts` LoRA experts."""

    experts: int = 4

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.experts < 1 or self.r % self.experts:
            raise ValueError(f"rank {self.r} does not split into {self.experts} experts")
        layer = functools.partial(MixtureLinear, experts=self.experts)
        self._register_custom_module({nn.Linear: cast(type[nn.Module], layer)})


def mixture_config(config: LoraConfig, experts: int) -> MixtureLoraConfig:
    """`config`, each adapted linear layer a mixture of `experts` experts."""
    values = {f.name: getattr(config, f.name) for f in dataclasses.fields(config) if f.init}
    return MixtureLoraConfig(**{**values, EXPERTS_FIELD: experts})


def adapter_config(folder: Path) -> LoraConfig:
    """The config of the adapter saved in `folder`, a mixture's included."""
    saved = json.loads((folder / "adapter_config.json").read_text(encoding="utf-8"))
    experts = saved.pop(EXPERTS_FIELD, None)
    config = LoraConfig.from_peft_type(**saved)
    return config if experts is None else mixture_config(config, int(experts))


class MixtureLinear(lora.Linear):
    """A LoRA linear layer whose rank is split into experts mixed by a per-token gate."""

    adapter_layer_names = (*lora.Linear.adapter_layer_names, "lora_gate")

    def __init__(self, base_layer: nn.Module, adapter_name: str, experts: int, **kwargs: Any):
        self.experts = experts  # read by update_layer, which the parent's __init__ calls
        super().__init__(base_layer, adapter_name, **kwargs)

    def update_layer(
        self, adapter_name: str, r: int, lora_alpha: int, config: LoraConfig, **kwargs: Any
    ) -> None:
        # The gate first: the parent's update activates the adapter in every adapter layer, and
        # moves them all to the base layer's device.
        if "lora_gate" not in self._modules:
            self.lora_gate = nn.ModuleDict()
        inputs = cast(int, self.in_features)  # set from the base layer before any update
        self.lora_gate[adapter_name] = nn.Linear(inputs, self.experts, bias=False)
        super().update_layer(adapter_name, r, lora_alpha, config, **kwargs)

    def gate(self, adapter_name: str, x: torch.Tensor) -> torch.Tensor:
        """The experts' weights for each token of `x`: (..., experts), summing to one."""
        return torch.softmax(self.lora_gate[adapter_name](x), dim=-1)

    def forward(self, x: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        if self.disable_adapters or self.merged or kwargs.get("adapter_names") is not None:
            return super().forward(x, *args, **kwargs)
        result = self.base_layer(x, *args, **kwargs)
        result_dtype = result.dtype
        for name in self.active_adapters:
            if name not in self.lora_gate:
                continue
            lora_a = cast(nn.Linear, self.lora_A[name])
            x_in = self._cast_input_dtype(x, lora_a.weight.dtype)
            low_rank = lora_a(self.lora_dropout[name](x_in))
            weights = self.gate(name, x_in).repeat_interleave(self.r[name] // self.experts, -1)
            result = result + self.lora_B[name](low_rank * weights) * self.scaling[name]
        return result.to(result_dtype)

    def merge(self, safe_merge: bool = False, adapter_names: list[str] | None = None) -> None:
        raise NotImplementedError("a mixture of LoRA experts depends on its input: not mergeable")
