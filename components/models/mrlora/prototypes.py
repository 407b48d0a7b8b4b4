"""The prototype router: training-free routing on the base's own features of image and question.

A sample's features are the base's own (no adapter): the mean of its image's vision-tower states
(the features every expert's projector reads) and the mean of its question's input embeddings.
Each part is centred on the replay set's mean and L2-normalised, then the two are joined; a
task's prototype is the mean of its replay samples' features (nearest class mean on centred,
normalised features: SimpleShot, Wang et al., 2019). A softmax head over the tasks, fitted to
the replay features from the nearest-prototype rule, routes: nearest prototype alone confused
related tasks' questions (docs/method.md). The routing's confidence is the head's probability
of the task it picks, as the MLLM router's is its letter's."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from peft import PeftModel
from peft.tuners.tuners_utils import BaseTunerLayer
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from transformers import ProcessorMixin

from components.models.base.loading import load_base
from components.models.lora.adapters import AdapterRun
from components.models.mrlora.settings import RouterKind
from components.models.prompts import Sample, image_pixels
from components.models.vision import vision_states

PROTOTYPES_FILE = "prototypes.safetensors"
# Images per pass through the vision tower when the features compute their states.
FEATURE_BATCH = 64


@dataclass(frozen=True)
class Features:
    """The two parts of samples' features, one row per sample."""

    image: torch.Tensor  # (N, vision dims)
    question: torch.Tensor  # (N, embedding dims)

    def joined(self) -> torch.Tensor:
        return torch.cat([self.image, self.question], dim=1)


@contextmanager
def unadapted_tower(llava: Any) -> Iterator[None]:
    """The vision tower as the base has it: any adapter layers in it switched off meanwhile
    (only the tower's: switching a whole PeftModel walks every layer, tens of milliseconds on
    each call even for the tiny base)."""
    layers = [m for m in llava.model.vision_tower.modules() if isinstance(m, BaseTunerLayer)]
    enabled = [layer for layer in layers if not layer.disable_adapters]
    for layer in enabled:
        layer.enable_adapters(False)
    try:
        yield
    finally:
        for layer in enabled:
            layer.enable_adapters(True)


def base_embeddings(llava: Any) -> torch.nn.Module:
    """The base's input embeddings, also where an adapter trains its own copy of them (peft
    keeps the base's as the wrapper's `original_module`)."""
    embeddings = llava.get_input_embeddings()
    return getattr(embeddings, "original_module", embeddings)


@torch.inference_mode()
def base_features(
    model: Any,
    processor: ProcessorMixin,
    samples: Sequence[Sample],
    states: torch.Tensor | None = None,
) -> Features:
    """Per sample, the base's mean image state and its question's mean input embedding
    (float32, on the CPU), whatever adapters `model` (a LLaVA, or a PeftModel around one)
    holds; `states`: the images' vision states when already computed by the base's tower."""
    llava: Any = model.get_base_model() if isinstance(model, PeftModel) else model
    device = llava.device
    if states is None:
        parts = []
        with unadapted_tower(llava):
            for start in range(0, len(samples), FEATURE_BATCH):
                images = [s.image for s in samples[start : start + FEATURE_BATCH]]
                pixels = image_pixels(processor, images).to(device, llava.dtype)
                parts.append(vision_states(llava, pixels))
        states = torch.cat(parts)
    tokenizer = processor.tokenizer
    tokenizer.padding_side = "right"
    questions = tokenizer(
        [s.question for s in samples], add_special_tokens=False, padding=True, return_tensors="pt"
    ).to(device)
    embedded = base_embeddings(llava)(questions["input_ids"]).float()
    mask = questions["attention_mask"][..., None].float()
    question = (embedded * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)
    return Features(image=states.float().mean(dim=1).cpu(), question=question.cpu())


# The head's L2 penalty on its weights (the features have unit norm). Weaker, and replay items
# of two tasks get near-certain probabilities on inputs of neither; stronger, and the known
# tasks' own items fall below the prototype router's floor (0.5).
HEAD_WEIGHT_DECAY = 1e-3


@dataclass(frozen=True)
class Prototypes:
    """The routing model: where features are centred, and a softmax head over the tasks on the
    centred, normalised features (fitted from the tasks' prototypes)."""

    tasks: tuple[str, ...]
    centre: torch.Tensor  # (D,): the replay features' mean
    weight: torch.Tensor  # (D, T): the head
    bias: torch.Tensor  # (T,)
    image_dims: int  # the first image_dims feature dimensions are the image's

    @classmethod
    def fit(cls, features: Features, labels: Sequence[str]) -> Prototypes:
        """From the replay samples' features and tasks (in their first-seen order): the
        prototypes, and the head fitted to the samples (cross-entropy with an L2 penalty, by
        L-BFGS from the nearest-prototype rule written as a linear layer)."""
        joined = features.joined()
        if len(joined) != len(labels) or not len(labels):
            raise ValueError(f"{len(joined)} feature rows for {len(labels)} labels")
        tasks = tuple(dict.fromkeys(labels))
        image_dims = features.image.shape[1]
        centre = joined.mean(dim=0)
        embedded = _embed(joined, centre, image_dims)
        rows = torch.tensor([tasks.index(label) for label in labels])
        means = torch.stack([embedded[rows == i].mean(dim=0) for i in range(len(tasks))])
        weight, bias = _fit_head(embedded, rows, means)
        return cls(tasks, centre, weight, bias, image_dims)

    def route(self, features: Features) -> list[tuple[str, float]]:
        """Per row: the task the head gives the highest probability, and that probability."""
        embedded = _embed(features.joined(), self.centre, self.image_dims)
        confidence, best = (embedded @ self.weight + self.bias).softmax(dim=1).max(dim=1)
        return [(self.tasks[i], c) for i, c in zip(best.tolist(), confidence.tolist(), strict=True)]

    def save(self, folder: Path) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / PROTOTYPES_FILE
        tensors = {name: getattr(self, name).contiguous() for name in _TENSORS}
        metadata = {"tasks": "\n".join(self.tasks), "image_dims": str(self.image_dims)}
        save_file(tensors, str(path), metadata=metadata)
        return path

    @classmethod
    def load(cls, folder: Path) -> Prototypes:
        path = folder / PROTOTYPES_FILE
        if not path.is_file():
            raise FileNotFoundError(f"{path} is missing: {folder} is not a prototype router")
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
        tensors = load_file(str(path))
        try:
            tasks = tuple(metadata["tasks"].split("\n"))
            image_dims = int(metadata["image_dims"])
            centre, weight, bias = (tensors[name] for name in _TENSORS)
        except (KeyError, ValueError) as missing:
            raise ValueError(f"{path}: not a prototype router's file ({missing})") from None
        if weight.shape != (centre.shape[0], len(tasks)) or bias.shape != (len(tasks),):
            raise ValueError(f"{path}: its tensors do not fit its {len(tasks)} tasks")
        return cls(tasks, centre, weight, bias, image_dims)


_TENSORS = ("centre", "weight", "bias")


def _fit_head(
    embedded: torch.Tensor, rows: torch.Tensor, means: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    # nearest prototype as a linear layer: argmin |x - m|^2 = argmax x.m - |m|^2 / 2
    weight = means.T.contiguous().clone().requires_grad_(True)  # its own memory, also for one task
    bias = (-0.5 * (means**2).sum(dim=1)).requires_grad_(True)
    if len(means) == 1:
        return weight.detach(), bias.detach()
    solver = torch.optim.LBFGS([weight, bias], max_iter=200, line_search_fn="strong_wolfe")

    def loss() -> torch.Tensor:
        solver.zero_grad()
        value = torch.nn.functional.cross_entropy(embedded @ weight + bias, rows)
        value = value + HEAD_WEIGHT_DECAY * (weight**2).sum()
        value.backward()
        return value

    with torch.enable_grad():
        solver.step(loss)  # type: ignore[arg-type]
    return weight.detach(), bias.detach()


def is_prototype_router(folder: Path) -> bool:
    return (folder / PROTOTYPES_FILE).is_file()


def router_kind(folder: Path) -> RouterKind:
    """The kind of the router saved in `folder`."""
    return "prototype" if is_prototype_router(folder) else "mllm"


def _embed(features: torch.Tensor, centre: torch.Tensor, image_dims: int) -> torch.Tensor:
    """Centred, each part (image, question) L2-normalised, joined at equal weight (unit norm)."""
    centred = features.float() - centre
    image, question = centred[:, :image_dims], centred[:, image_dims:]
    parts = [torch.nn.functional.normalize(p, dim=1) for p in (image, question)]
    return torch.cat(parts, dim=1) / 2**0.5


def build_prototype_router(
    base: str,
    replay: Mapping[str, Sequence[Sample]],
    out: Path,
    dtype: str = "auto",
    device: str = "auto",
) -> AdapterRun:
    """The prototype router of the tasks in `replay`, saved to `out` (written whole, then moved
    into place); its cost as an adapter's: the seconds to build it and the head's parameters."""
    model, processor = load_base(base, dtype=dtype, device=device)
    started = time.perf_counter()
    prototypes = build_prototypes(model, processor, replay)
    seconds = time.perf_counter() - started
    partial = out.with_name(out.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    saved = prototypes.save(partial)
    shutil.rmtree(out, ignore_errors=True)
    partial.rename(out)
    samples = sum(len(items) for items in replay.values())
    return AdapterRun(
        folder=out,
        seconds=seconds,
        samples=samples,
        samples_per_second=samples / max(seconds, 1e-9),
        adapter_bytes=(out / saved.name).stat().st_size,
        trainable_parameters=prototypes.weight.numel() + prototypes.bias.numel(),
        log_history=[],
    )


def build_prototypes(
    model: Any, processor: ProcessorMixin, replay: Mapping[str, Sequence[Sample]]
) -> Prototypes:
    """The prototypes of every task in `replay` (in its order) from the base's features."""
    samples = [s for items in replay.values() for s in items]
    labels = [task for task, items in replay.items() for _ in items]
    return Prototypes.fit(base_features(model, processor, samples), labels)
