"""Greedy answers from a LLaVA (base, or base with an adapter active), in batches."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from transformers import ProcessorMixin

from components.models.prompts import Sample, encode_prompts, in_length_order, on_device


@torch.inference_mode()
def generate_answers(
    model: Any,  # a LLaVA, bare or under adapters (transformers types `generate` unusably)
    processor: ProcessorMixin,
    samples: Sequence[Sample],
    batch_size: int = 32,
    max_new_tokens: int = 24,
) -> list[str]:
    """Greedy answers in the samples' order, batched shortest question first."""
    model.eval()

    def in_batches(ordered: list[Sample]) -> list[str]:
        answers: list[str] = []
        for start in range(0, len(ordered), batch_size):
            batch = on_device(
                encode_prompts(processor, ordered[start : start + batch_size]), model.device
            )
            output = model.generate(
                **batch,
                max_new_tokens=max_new_tokens,
                do_sample=False,
                pad_token_id=processor.tokenizer.pad_token_id,
            )
            new_tokens = output[:, batch["input_ids"].shape[1] :]
            texts = processor.batch_decode(new_tokens, skip_special_tokens=True)
            answers += [t.strip() for t in texts]
        return answers

    return in_length_order(samples, in_batches)
