"""Reading the router's choice: the official rule on its generated text, or the letters scored
after the prompt (never an illegal output)."""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from peft import PeftModel
from transformers import PreTrainedModel, ProcessorMixin


def decode_official(text: str, letters: str, rng: random.Random) -> str:
    """The official rule: more than one character outside the letter set, or no letter at all,
    gives a random expert; otherwise the first letter found, checked A, B, C, ... in order."""
    outside = [c for c in text if c not in letters]
    present = [letter for letter in letters if letter in text]
    if len(outside) > 1 or not present:
        return rng.choice(letters)
    return present[0]


def letter_token_ids(processor: ProcessorMixin, letters: str) -> list[int]:
    """The token each letter answer starts with; they must be distinct to score letters."""
    ids = [
        processor.tokenizer(" " + letter, add_special_tokens=False)["input_ids"][0]
        for letter in letters
    ]
    if len(set(ids)) != len(ids):
        raise ValueError(f"the tokenizer does not give the letters {letters} distinct first tokens")
    return ids


@torch.inference_mode()
def constrained_letters(
    model: PreTrainedModel | PeftModel,
    inputs: Mapping[str, Any],
    last: torch.Tensor,
    letter_ids: Sequence[int],
    letters: str,
) -> list[str]:
    """Score the candidate letters after each row's last prompt token (`last`, an index per row)
    in one forward pass: never an illegal output."""
    logits = model(**inputs, logits_to_keep=last[:, None]).logits[:, 0]  # only `last` projected
    best = logits[:, list(letter_ids)].argmax(dim=-1)
    return [letters[i] for i in best.tolist()]
