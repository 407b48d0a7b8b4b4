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
) -> list[tuple[str, float]]:
    """Score the candidate letters after each row's last prompt token (`last`, an index per row)
    in one forward pass: never an illegal output. Each row's letter comes with its probability
    among the candidates (the routing's confidence)."""
    logits = model(**inputs, logits_to_keep=last[:, None]).logits[:, 0]  # only `last` projected
    return letter_choices(logits, letter_ids, letters)


def candidate_probabilities(logits: torch.Tensor, letter_ids: Sequence[int]) -> torch.Tensor:
    """Per row of next-token `logits`: each candidate letter's probability among the
    candidates."""
    return logits[:, list(letter_ids)].float().softmax(dim=-1)


def letter_choices(
    logits: torch.Tensor, letter_ids: Sequence[int], letters: str
) -> list[tuple[str, float]]:
    """Per row of next-token `logits`: the likeliest candidate letter and its probability."""
    confidence, best = candidate_probabilities(logits, letter_ids).max(dim=-1)
    return [(letters[i], c) for i, c in zip(best.tolist(), confidence.tolist(), strict=True)]
