"""Elastic weight consolidation on an adapter's trainable parameters (Kirkpatrick et al., 2017,
"Overcoming catastrophic forgetting in neural networks"): after a task, each parameter's diagonal
Fisher information on that task's data says how much the task's loss depends on it; training on
a later task then pays (strength / 2) * sum_k F_k (theta_k - theta*_k)^2 for moving parameter k
away from where the earlier tasks left it (theta*). The Fisher of each task is added to the
earlier ones' and the anchor moves to the weights after the latest task (the online form of
Schwarz et al., 2018, which keeps one penalty whatever the number of tasks)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from transformers import ProcessorMixin

from components.models.lora.training import answer_token_loss
from components.models.prompts import Sample, encode_training

CONSOLIDATION_FILE = "consolidation.safetensors"
_ANCHOR, _FISHER = "anchor.", "fisher."


class Consolidation:
    """Where the earlier tasks left each trainable parameter, and how much they depend on it."""

    def __init__(
        self, anchor: dict[str, torch.Tensor], fisher: dict[str, torch.Tensor], strength: float
    ) -> None:
        if anchor.keys() != fisher.keys():
            raise ValueError("a consolidation needs an anchor and a Fisher value per parameter")
        self.anchor = anchor
        self.fisher = fisher
        self.strength = strength

    def penalty(self, model: torch.nn.Module) -> torch.Tensor:
        """(strength / 2) * sum F (theta - theta*)^2 over the consolidated parameters: zero at
        the anchor, growing with the square of the distance, weighted by the Fisher."""
        terms = [
            (self.fisher[name].to(p) * (p - self.anchor[name].to(p)) ** 2).sum()
            for name, p in model.named_parameters()
            if name in self.fisher
        ]
        if not terms:
            return torch.zeros(())  # a 0-d tensor adds to a loss on any device
        return self.strength / 2 * torch.stack(terms).sum()

    def then(self, model: torch.nn.Module, fisher: dict[str, torch.Tensor]) -> Consolidation:
        """After one more task: its Fisher added to the earlier ones', the anchor at the model's
        weights now."""
        anchor = {name: p.detach().cpu().clone() for name, p in _trainable(model)}
        summed = {name: fisher[name] + self.fisher.get(name, 0.0) for name in anchor}
        return Consolidation(anchor, summed, self.strength)

    def save(self, folder: Path) -> Path:
        tensors = {_ANCHOR + k: v.contiguous() for k, v in self.anchor.items()}
        tensors |= {_FISHER + k: v.contiguous() for k, v in self.fisher.items()}
        path = folder / CONSOLIDATION_FILE
        save_file(tensors, str(path))
        return path

    @classmethod
    def load(cls, folder: Path, strength: float) -> Consolidation:
        tensors = load_file(str(folder / CONSOLIDATION_FILE))
        anchor = {k.removeprefix(_ANCHOR): v for k, v in tensors.items() if k.startswith(_ANCHOR)}
        fisher = {k.removeprefix(_FISHER): v for k, v in tensors.items() if k.startswith(_FISHER)}
        return cls(anchor, fisher, strength)

    @classmethod
    def none(cls, strength: float) -> Consolidation:
        """Before the first task: nothing to hold on to."""
        return cls({}, {}, strength)


def _trainable(model: torch.nn.Module) -> list[tuple[str, torch.nn.Parameter]]:
    return [(name, p) for name, p in model.named_parameters() if p.requires_grad]


def diagonal_fisher(
    model: torch.nn.Module, processor: ProcessorMixin, samples: Sequence[Sample]
) -> dict[str, torch.Tensor]:
    """The empirical diagonal Fisher of the trainable parameters: the squared gradient of each
    sample's answer loss, averaged over the samples (one sample per backward pass, as the
    Fisher is a mean of per-sample squares, not the square of a batch mean)."""
    if not samples:
        raise ValueError("the Fisher information needs at least one sample")
    parameters = _trainable(model)
    fisher = {name: torch.zeros_like(p, device="cpu") for name, p in parameters}
    device = next(model.parameters()).device
    for sample in samples:
        model.zero_grad(set_to_none=True)
        inputs = {k: v.to(device) for k, v in encode_training(processor, [sample]).items()}
        labels = inputs.pop("labels")
        answer_token_loss(model(**inputs), labels).backward()
        for name, parameter in parameters:
            if parameter.grad is not None:
                fisher[name] += parameter.grad.detach().float().cpu() ** 2
    model.zero_grad(set_to_none=True)
    return {name: value / len(samples) for name, value in fisher.items()}
