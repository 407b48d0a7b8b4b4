"""Greedy answers from a LLaVA (base, or base with an adapter active), in batches."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from transformers import ProcessorMixin

from components.models.prompts import Sample, encode_prompts, in_length_batches, on_device


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

    def answer_batch(batch: list[Sample]) -> list[str]:
        encoded = on_device(encode_prompts(processor, batch), model.device)
        output = model.generate(
            **encoded,
            max_new_tokens=max_new_tokens,
            do_sample=False,
            pad_token_id=processor.tokenizer.pad_token_id,
        )
        new_tokens = output[:, encoded["input_ids"].shape[1] :]
        return [t.strip() for t in processor.batch_decode(new_tokens, skip_special_tokens=True)]

    return in_length_batches(samples, batch_size, answer_batch)
