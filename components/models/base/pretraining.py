"""The tiny base's second stage: questions about fresh scenes of the generic mixture
(components/models/base/mixture/), the text its tokenizer learns from, and the held-out
accuracy a build records."""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Iterator

from transformers import ProcessorMixin

from components.models.base.mixture.questions import make_sample
from components.models.base.tiny import chat_text
from components.models.generation import generate_answers
from components.models.prompts import Sample

# The router's instruction as the base's recipe learnt its tokens: fixed here, so that a base
# built again from the same config gets the same tokenizer whatever the router's prompt says now.
ROUTER_WORDS = (
    "You are a router. Several experts can answer questions about an image; pick the one "
    "whose specialty fits it best.\nExperts:\nexperts\nimageQuestion: question\n"
    "Reply with the expert's letter only. Do not answer the question."
)
GENERAL_WORDS = (
    "a an the is are was were be been this that these those it its there here what which who "
    "how many much where when why do does did not no yes only just all any each every some "
    "most more less other same different first second last next before after above below "
    "under over between into out up down from by for with without about as at on in of to and "
    "or but if then than so also can could should would will may must have has had show shown "
    "see look find give tell choose pick select reply answer question option letter word text "
    "number value name type kind part main best true false following given image picture "
    "photo figure diagram chart map view scene color shape left right top bottom middle center "
    "near far large small big high low long short new old one two three four five six seven "
    "eight nine ten zero count object objects thing people person car road sky water"
)


def pretraining_samples(
    count: int, seed: int, stream: str = "train"
) -> Iterator[tuple[Sample, str]]:
    """`count` mixture samples and their question families, the same for the same seed and
    stream."""
    rng = random.Random(f"mllmcl-pretrain:{stream}:{seed}")
    for _ in range(count):
        _, sample, family = make_sample(rng)
        yield sample, family


def tokenizer_corpus(samples: list[Sample]) -> list[str]:
    """Text to learn the tokenizer from: the mixture's exchanges as the chat template writes
    them, the words of the router's instruction (the pipeline's own prompt), common words and
    digits. Byte-level BPE still encodes any other text (the experts learn new words' tokens)."""
    lines = [chat_text(s.question, s.answer) for s in samples]
    lines += [
        ROUTER_WORDS,
        GENERAL_WORDS,
        " ".join(str(n) for n in range(101)),
        "A B C D E ( ) . , ? : < > _ - + =",
    ]
    return lines


def held_out_accuracy(model, processor: ProcessorMixin, count: int, seed: int) -> dict[str, float]:
    """Exact-match accuracy on `count` fresh mixture questions (another stream than the
    training one), per question family and overall."""
    drawn = list(pretraining_samples(count, seed, stream="held-out"))
    answers = generate_answers(model, processor, [sample for sample, _ in drawn])
    right: dict[str, list[bool]] = defaultdict(list)
    for (sample, family), answer in zip(drawn, answers, strict=True):
        right[family].append(answer.strip().lower() == sample.answer.strip().lower())
        right["all"].append(right[family][-1])
    return {family: sum(hits) / len(hits) for family, hits in sorted(right.items())}
