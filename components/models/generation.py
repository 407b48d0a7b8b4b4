"""Greedy answers from a LLaVA (base, or base with an adapter active), in batches."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from transformers import ProcessorMixin

from components.models.prompts import Sample, encode_prompts, on_device


@torch.inference_mode()
def generate_answers(
    model: Any,  # a LLaVA, bare or under adapters (transformers types `generate` unusably)
    processor: ProcessorMixin,
    samples: Sequence[Sample],
    batch_size: int = 32,
    max_new_tokens: int = 24,
) -> list[str]:
    answers: list[str] = []
    model.eval()
    for start in range(0, len(samples), batch_size):
        batch = on_device(
            encode_prompts(processor, samples[start : start + batch_size]), model.device
        )
        output = model.generate(
            **batch,
            max_new_tokens=max_new_tokens,
            do_sample=False,
            pad_token_id=processor.tokenizer.pad_token_id,
        )
        new_tokens = output[:, batch["input_ids"].shape[1] :]
        answers += [t.strip() for t in processor.batch_decode(new_tokens, skip_special_tokens=True)]
    return answers
