"""Turning (image, question, answer) samples into model inputs, the same way for every LLaVA:
the processor's chat template makes the prompt, the answer is appended, and only the answer
tokens are trained (labels of the prompt are masked)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import torch
from PIL import Image
from transformers import ProcessorMixin

IGNORE_INDEX = -100


@dataclass
class Sample:
    image: Image.Image
    question: str
    answer: str = ""
    context: str = ""  # text before the image in the user turn (the router's expert list)


def prompt_text(processor: ProcessorMixin, question: str, context: str = "") -> str:
    """The generation prompt: optional context, the image, then the question."""
    content = [{"type": "text", "text": context}] if context else []
    content += [{"type": "image"}, {"type": "text", "text": question}]
    conversation: list[dict[str, Any]] = [{"role": "user", "content": content}]
    # transformers types a conversation's content as text only; LLaVA's holds image parts too
    return processor.apply_chat_template(conversation, add_generation_prompt=True)  # type: ignore[arg-type]


Result = TypeVar("Result")


def in_length_batches(
    samples: Sequence[Sample], size: int, answer: Callable[[list[Sample]], list[Result]]
) -> list[Result]:
    """`answer` applied to batches of `size` samples taken shortest question first, so that a
    batch of neighbours pads little (a prompt's image takes the same tokens in every sample),
    with the results put back in the samples' order."""
    order = sorted(range(len(samples)), key=lambda row: len(samples[row].question))
    ordered = [samples[row] for row in order]
    results = [
        r for start in range(0, len(ordered), size) for r in answer(ordered[start : start + size])
    ]
    placed: dict[int, Result] = dict(zip(order, results, strict=True))
    return [placed[row] for row in range(len(samples))]


def rgb(image: Image.Image) -> Image.Image:
    return image if image.mode == "RGB" else image.convert("RGB")


Encoded = dict[str, torch.Tensor]


def image_token(processor: ProcessorMixin) -> str:
    """The image placeholder of a LLaVA processor (ProcessorMixin itself does not declare it)."""
    return str(processor.image_token)  # type: ignore[attr-defined]


def on_device(encoded: Encoded, device: torch.device) -> Encoded:
    return {key: value.to(device) for key, value in encoded.items()}


def encode_prompts(
    processor: ProcessorMixin, samples: Sequence[Sample], padding_side: str = "left"
) -> Encoded:
    """Padded prompts with pixel values: left-padded for `generate`, right-padded for scoring
    the next token after a shared, cached prefix."""
    tokenizer = processor.tokenizer
    tokenizer.padding_side = padding_side
    encoded = processor(
        images=[rgb(s.image) for s in samples],
        text=[prompt_text(processor, s.question, s.context) for s in samples],
        return_tensors="pt",
        padding=True,
    )
    return dict(encoded)


def _expanded_tokens(
    processor: ProcessorMixin,
    texts: Sequence[str],
    image_tokens: int,
    padding_side: str,
    add_special_tokens: bool = True,
) -> Encoded:
    """Tokenized prompt texts, each image placeholder expanded to `image_tokens` tokens as the
    processor would expand it."""
    tokenizer = processor.tokenizer
    tokenizer.padding_side = padding_side
    mark = image_token(processor)
    encoded = tokenizer(
        [text.replace(mark, mark * image_tokens) for text in texts],
        return_tensors="pt",
        padding=True,
        add_special_tokens=add_special_tokens,
    )
    return dict(encoded)


def encode_prompt_text(
    processor: ProcessorMixin, samples: Sequence[Sample], image_tokens: int
) -> Encoded:
    """Left-padded prompts without pixels, for images whose features are already computed."""
    texts = [prompt_text(processor, s.question, s.context) for s in samples]
    return _expanded_tokens(processor, texts, image_tokens, "left")


def split_at_image(processor: ProcessorMixin, sample: Sample) -> tuple[str, str]:
    """A prompt's text before its image (what router prompts share: the expert list) and the
    rest, from the image on."""
    text = prompt_text(processor, sample.question, sample.context)
    at = text.index(image_token(processor))
    return text[:at], text[at:]


def encode_continuations(
    processor: ProcessorMixin,
    rests: Sequence[str],
    images: Sequence[Image.Image],
    image_tokens: int,
) -> Encoded:
    """Right-padded prompt texts that continue an already-encoded prefix (so no special tokens
    are added), with their images' pixel values."""
    encoded = _expanded_tokens(processor, rests, image_tokens, "right", add_special_tokens=False)
    return {**encoded, "pixel_values": image_pixels(processor, images)}


def image_pixels(processor: ProcessorMixin, images: Sequence[Image.Image]) -> torch.Tensor:
    """The images' pixel values as the processor prepares them, without any text."""
    pixels = processor.image_processor([rgb(image) for image in images], return_tensors="pt")
    return pixels["pixel_values"]


@dataclass
class TrainingExample:
    """One sample encoded for training: prompt + answer + EOS ids, labels only on the answer
    and EOS, the image's pixel values."""

    ids: list[int]
    labels: list[int]
    pixel_values: np.ndarray

    @property
    def nbytes(self) -> int:
        return int(self.pixel_values.nbytes) + 8 * (len(self.ids) + len(self.labels))


def encode_example(processor: ProcessorMixin, sample: Sample) -> TrainingExample:
    tokenizer = processor.tokenizer
    prompt = processor(
        images=[rgb(sample.image)],
        text=[prompt_text(processor, sample.question, sample.context)],
        return_tensors=None,
    )
    prompt_ids = list(prompt["input_ids"][0])
    answer_ids = tokenizer(" " + sample.answer.strip(), add_special_tokens=False)["input_ids"]
    answer_ids = [*answer_ids, tokenizer.eos_token_id]
    return TrainingExample(
        ids=prompt_ids + answer_ids,
        labels=[IGNORE_INDEX] * len(prompt_ids) + answer_ids,
        pixel_values=np.asarray(prompt["pixel_values"][0]),
    )


def collate_training(pad_id: int, examples: Sequence[TrainingExample]) -> Encoded:
    """A right-padded batch of encoded examples.

    `logits_to_keep` marks the positions whose next token is a label: the model projects only
    those onto the vocabulary (see training.answer_token_loss), not every prompt position."""
    width = max(len(e.ids) for e in examples)
    label_tensor = torch.tensor(
        [e.labels + [IGNORE_INDEX] * (width - len(e.labels)) for e in examples]
    )
    return {
        "input_ids": torch.tensor([e.ids + [pad_id] * (width - len(e.ids)) for e in examples]),
        "attention_mask": torch.tensor(
            [[1] * len(e.ids) + [0] * (width - len(e.ids)) for e in examples]
        ),
        "labels": label_tensor,
        "pixel_values": torch.from_numpy(np.stack([e.pixel_values for e in examples])),
        "logits_to_keep": predicts_label(label_tensor),
    }


def encode_training(processor: ProcessorMixin, samples: Sequence[Sample]) -> Encoded:
    """Right-padded prompt + answer + EOS, with labels only on the answer and EOS."""
    examples = [encode_example(processor, s) for s in samples]
    return collate_training(processor.tokenizer.pad_token_id, examples)


def predicts_label(labels: torch.Tensor) -> torch.Tensor:
    """Boolean (batch, length): True where the next position holds a label."""
    mask = torch.zeros_like(labels, dtype=torch.bool)
    mask[:, :-1] = labels[:, 1:] != IGNORE_INDEX
    return mask
