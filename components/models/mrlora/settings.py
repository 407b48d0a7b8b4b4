"""The router's prompt and decoding as plain data (no torch import)."""

from __future__ import annotations

from typing import Literal

Decoding = Literal["constrained", "official"]
# mllm: the paper's router (the base with its own LoRA); prototype: the base's features and a head
RouterKind = Literal["mllm", "prototype"]
ROUTER_KINDS: tuple[RouterKind, ...] = ("mllm", "prototype")


LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


# {experts} lists the pool, {image} is where the image goes, {question} is the user's question.
# Everything before {image} is the same for every input, so it is computed once and cached: the
# instruction sits there too, so that each input adds only its image and question to read.
DEFAULT_TEMPLATE = (
    "You are a router. Several experts can answer questions about an image; pick the one "
    "whose specialty fits it best. Reply with the expert's letter only. Do not answer the "
    "question.\nExperts:\n{experts}\n{image}{question}"
)
