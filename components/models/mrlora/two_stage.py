"""Two-stage MR-LoRA inference: (1) the router reads image + question and picks an expert, (2) only
that expert (base + its LoRA) answers. The router is of either kind: the MLLM router (the base
with its own LoRA, answering a letter, through as many of the language model's layers as it was
trained on) or the prototype router (the base's features, no adapter;
components/models/mrlora/prototypes.py), told apart by the router folder's files. Batched and
grouped by expert; when no adapter touches the vision tower, each image goes through it once and
both stages reuse its features (each adapter still applies its own projector)."""

from __future__ import annotations

import copy
import json
import random
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from pydantic import BaseModel
from transformers import Cache
from transformers.modeling_outputs import BaseModelOutputWithPooling

from components.models.lora.adapters import load_adapters
from components.models.mrlora.letters import (
    candidate_probabilities,
    constrained_letters,
    decode_official,
    letter_token_ids,
)
from components.models.mrlora.prototypes import (
    Prototypes,
    base_features,
    router_kind,
    unadapted_tower,
)
from components.models.mrlora.router_depth import first_layers, read_depth
from components.models.mrlora.settings import Decoding
from components.models.mrlora.spec import RouterSpec
from components.models.prompts import (
    Encoded,
    Sample,
    encode_continuations,
    encode_prompt_text,
    encode_prompts,
    image_pixels,
    in_length_batches,
    on_device,
    split_at_image,
)
from components.models.vision import vision_states

ROUTER = "router"


@dataclass
class RouterPrefix:
    """The router prompts' shared start (the expert list), run once through the router."""

    text: str
    length: int  # tokens
    cache: Cache
    image_tokens: int  # how many tokens an image takes in a prompt
    split_exact: bool  # the rest of a prompt, tokenized alone, gives the processor's ids


class Routed(BaseModel):
    task: str
    letter: str
    router_output: str  # the MLLM router's text, or the prototype router's task
    confidence: float  # the chosen expert's probability among the pool, as the router saw it
    answer: str = ""


@dataclass
class RoutedBatch:
    """A routed batch, and what its experts reuse of the routing's work on the images."""

    routed: list[Routed]
    image_tokens: int  # how many tokens an image takes in a prompt
    states: torch.Tensor | None  # the images' vision features, when no adapter touches the tower
    pixels: torch.Tensor  # the images' pixel values, for experts that adapt the tower


def adapter_touches_vision(folder: Path) -> bool:
    config = json.loads((folder / "adapter_config.json").read_text(encoding="utf-8"))
    return "vision_tower" in str(config.get("target_modules"))


class TwoStage:
    """The routed bundle: base + router (an adapter, or prototypes) + one adapter per expert,
    loaded once."""

    def __init__(
        self,
        base: str,
        router: Path,
        experts: dict[str, Path],
        spec: RouterSpec,
        decoding: Decoding = "constrained",
        dtype: str = "auto",
        device: str = "auto",
        seed: int = 0,
        max_new_tokens: int = 24,
    ) -> None:
        self.spec = spec
        self.decoding = decoding
        self.max_new_tokens = max_new_tokens
        self.rng = random.Random(seed)
        self.kind = router_kind(router)
        adapters = dict(experts) if self.kind == "prototype" else {ROUTER: router, **experts}
        self.model, self.processor = load_adapters(base, adapters, dtype, device)
        self.share_vision = not any(adapter_touches_vision(p) for p in adapters.values())
        self.prototypes = Prototypes.load(router) if self.kind == "prototype" else None
        if self.prototypes is not None and set(self.prototypes.tasks) != set(experts):
            raise ValueError(
                f"the prototype router at {router} routes to {', '.join(self.prototypes.tasks)}, "
                f"not to the experts given ({', '.join(experts)})"
            )
        mllm = self.kind == "mllm"  # only its letters are scored
        self.letter_ids = letter_token_ids(self.processor, spec.letters) if mllm else []
        self.router_layers = read_depth(router) if mllm else None
        self._prefix: RouterPrefix | None = None

    def reserved_tokens(self) -> list[str]:
        """Texts a question may not hold: they would read as image slots or chat markers."""
        image = getattr(self.processor, "image_token", None)
        special = self.processor.tokenizer.all_special_tokens
        return sorted({token for token in [image, *special] if token})

    @property
    def _llava(self) -> Any:
        """The LLaVA under the adapters (transformers' model classes type their parts loosely)."""
        return self.model.get_base_model()

    def _use(self, adapter: str) -> None:
        """Activate an adapter; peft's switch walks every module, so only when it changes."""
        if self.model.active_adapter != adapter:
            self.model.set_adapter(adapter)

    def _image_inputs(self, encoded: Encoded, states: torch.Tensor | None) -> dict[str, Any]:
        """Model inputs: cached features through the active adapter's projector, or
        the raw pixels when the vision tower is adapted."""
        inputs: dict[str, Any] = {
            "input_ids": encoded["input_ids"],
            "attention_mask": encoded["attention_mask"],
        }
        if states is None:
            inputs["pixel_values"] = encoded["pixel_values"]
            return inputs
        projector = self._llava.model.multi_modal_projector
        features = projector(states)
        inputs["mm_encoder_outputs"] = {
            # one feature tensor per image, as LLaVA's own vision encoder returns them
            "image": BaseModelOutputWithPooling(pooler_output=list(features))  # type: ignore[arg-type]
        }
        return inputs

    # -- the two stages ---------------------------------------------------------------------
    @torch.inference_mode()
    def _generate(self, inputs: dict[str, Any]) -> list[str]:
        return self._generate_with_first(inputs, False)[0]

    def _generate_with_first(
        self, inputs: dict[str, Any], first: bool
    ) -> tuple[list[str], torch.Tensor | None]:
        """Greedy answers; with `first`, also the logits of each row's first new token."""
        output = self.model.generate(
            **inputs,
            max_new_tokens=self.max_new_tokens,
            do_sample=False,
            pad_token_id=self.processor.tokenizer.pad_token_id,
            output_scores=first,
            return_dict_in_generate=True,
        )
        fresh = output.sequences[:, inputs["input_ids"].shape[1] :]
        texts = [t.strip() for t in self.processor.batch_decode(fresh, skip_special_tokens=True)]
        return texts, output.scores[0] if first else None

    def _router_prefix(self, splits: list[tuple[str, str]], first: Sample) -> RouterPrefix:
        """The prompt part every router input shares (the expert list), run once; its cache is
        kept while the pool and template stay the same."""
        if len({before for before, _ in splits}) != 1:
            raise ValueError("router prompts do not share their expert list: check the template")
        text = splits[0][0]
        if self._prefix is None or self._prefix.text != text:
            ids = encode_prompts(self.processor, [first])["input_ids"][0].to(self.model.device)
            image_id = self._llava.config.image_token_id
            length = int((ids == image_id).nonzero()[0])
            image_tokens = int((ids == image_id).sum())
            rest = encode_continuations(self.processor, [splits[0][1]], [first.image], image_tokens)
            cache = self.model(input_ids=ids[None, :length], use_cache=True).past_key_values
            self._prefix = RouterPrefix(
                text=text,
                length=length,
                cache=cache,
                image_tokens=image_tokens,
                split_exact=torch.equal(rest["input_ids"][0].to(ids.device), ids[length:]),
            )
        return self._prefix

    def _encode_rests(
        self, prompts: list[Sample], splits: list[tuple[str, str]], prefix: RouterPrefix
    ) -> Encoded:
        """The router prompts from the image on, right-padded; the shared prefix is tokenized
        once, unless this tokenizer reads the rest differently alone (then the whole prompts are
        encoded and cut)."""
        if prefix.split_exact:
            rests = [rest for _, rest in splits]
            images = [p.image for p in prompts]
            return encode_continuations(self.processor, rests, images, prefix.image_tokens)
        encoded = encode_prompts(self.processor, prompts, padding_side="right")
        for key in ("input_ids", "attention_mask"):
            encoded[key] = encoded[key][:, prefix.length :]
        return encoded

    def _constrained(
        self, encoded: Encoded, states: torch.Tensor | None, prefix: RouterPrefix
    ) -> list[tuple[str, float]]:
        """The right-padded rests continue the cached prefix; each row's next token is scored."""
        inputs = self._image_inputs(encoded, states)
        rows = len(inputs["input_ids"])
        shared = inputs["attention_mask"].new_ones(rows, prefix.length)
        inputs["attention_mask"] = torch.cat([shared, inputs["attention_mask"]], dim=1)
        cache = copy.deepcopy(prefix.cache)
        cache.batch_repeat_interleave(rows)
        inputs["past_key_values"] = cache
        last = encoded["attention_mask"].sum(dim=1) - 1
        return constrained_letters(self.model, inputs, last, self.letter_ids, self.spec.letters)

    @torch.inference_mode()
    def _route_batch(self, samples: Sequence[Sample]) -> RoutedBatch:
        """Routes a batch; also returns the images' pixel values and (when shared) vision
        features, and how many tokens an image takes in a prompt."""
        if self.prototypes is not None:
            return self._route_by_prototypes(samples, self.prototypes)
        self._use(ROUTER)
        with first_layers(self._llava, self.router_layers):
            return self._route_by_letters(samples)

    def _route_by_letters(self, samples: Sequence[Sample]) -> RoutedBatch:
        """The MLLM router (active, at its depth) answers each sample's letter."""
        prompts = [self.spec.sample(s.image, s.question) for s in samples]
        if self.decoding == "constrained":
            splits = [split_at_image(self.processor, p) for p in prompts]
            prefix = self._router_prefix(splits, prompts[0])
            encoded = self._encode_rests(prompts, splits, prefix)
        else:
            encoded = encode_prompts(self.processor, prompts)
        encoded = on_device(encoded, self.model.device)
        pixels = encoded["pixel_values"]
        states = vision_states(self._llava, pixels) if self.share_vision else None
        if self.decoding == "constrained":
            chosen = self._constrained(encoded, states, prefix)
            outputs = [letter for letter, _ in chosen]
        else:  # the letter read from the text; its confidence from the first new token
            outputs, first = self._generate_with_first(self._image_inputs(encoded, states), True)
            assert first is not None
            letters = [decode_official(text, self.spec.letters, self.rng) for text in outputs]
            candidates = candidate_probabilities(first, self.letter_ids)
            chosen = [
                (letter, float(candidates[row, self.spec.letters.index(letter)]))
                for row, letter in enumerate(letters)
            ]
        routed = [
            Routed(
                task=self.spec.task_of(letter),
                letter=letter,
                router_output=text,
                confidence=confidence,
            )
            for (letter, confidence), text in zip(chosen, outputs, strict=True)
        ]
        image_id = self._llava.config.image_token_id
        image_tokens = int((encoded["input_ids"][0] == image_id).sum())
        return RoutedBatch(routed, image_tokens, states, pixels)

    def _route_by_prototypes(
        self, samples: Sequence[Sample], prototypes: Prototypes
    ) -> RoutedBatch:
        """The base's features of each sample through the prototype router's head. The images'
        vision states come from the unadapted tower: the experts reuse them when no adapter
        touches it, else they reuse the pixel values."""
        pixels = image_pixels(self.processor, [s.image for s in samples])
        pixels = pixels.to(self.model.device, self.model.dtype)
        with unadapted_tower(self._llava):  # where no adapter touches it, the same tower
            states = vision_states(self._llava, pixels)
        features = base_features(self.model, self.processor, samples, states)
        routed = [
            Routed(task=task, letter=self.spec.letter_of(task), router_output=task, confidence=p)
            for task, p in prototypes.route(features)
        ]
        return RoutedBatch(routed, states.shape[1], states if self.share_vision else None, pixels)

    def route(self, samples: Sequence[Sample], batch_size: int = 32) -> list[Routed]:
        """The routings alone, in the samples' order (batched shortest question first)."""
        return in_length_batches(samples, batch_size, lambda batch: self._route_batch(batch).routed)

    @torch.inference_mode()
    def answer(
        self, samples: Sequence[Sample], batch_size: int = 32, chunk_size: int = 256
    ) -> list[Routed]:
        """Route every sample, then answer each expert's share with that expert alone, in full
        batches whatever order the samples come in. `chunk_size` samples are routed before any is
        answered: it bounds the vision features held meanwhile. Batched shortest question first
        (each expert's share too); the results come in the samples' order."""
        return in_length_batches(
            samples, chunk_size, lambda chunk: self._answer_chunk(chunk, batch_size)
        )

    def _answer_chunk(self, samples: Sequence[Sample], batch_size: int) -> list[Routed]:
        batches = [
            self._route_batch(samples[start : start + batch_size])
            for start in range(0, len(samples), batch_size)
        ]
        routed = [r for batch in batches for r in batch.routed]
        image_tokens = batches[0].image_tokens
        states = [b.states for b in batches if b.states is not None]
        shared = torch.cat(states) if len(states) == len(batches) else None
        pixels = None if shared is not None else torch.cat([b.pixels for b in batches])
        groups: dict[str, list[int]] = defaultdict(list)
        for row, item in enumerate(routed):
            groups[item.task].append(row)
        for task, rows in groups.items():
            self._use(task)
            for start in range(0, len(rows), batch_size):
                part = rows[start : start + batch_size]
                batch = [samples[row] for row in part]
                # the images were encoded for the router: the experts need only the text
                encoded = encode_prompt_text(self.processor, batch, image_tokens)
                encoded = on_device(encoded, self.model.device)
                if pixels is not None:  # adapted vision towers: each expert sees the pixels
                    encoded["pixel_values"] = pixels[part]
                part_states = None if shared is None else shared[part]
                inputs = self._image_inputs(encoded, part_states)
                for row, text in zip(part, self._generate(inputs), strict=True):
                    routed[row].answer = text
        return routed
