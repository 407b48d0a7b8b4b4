"""The tiny base's pretraining mixture holds none of the benchmark tasks' content, and what the
vision tower is taught about a scene is where the scene has it."""

from __future__ import annotations

import random
import re

import pytest
import torch
from PIL import Image

from components.data.generator.writer import MAKERS, split_rng
from components.models.base.config import TinyBaseConfig
from components.models.base.mixture.labels import (
    CHARSET,
    COLOUR_NAMES,
    IGNORE,
    scene_labels,
)
from components.models.base.mixture.questions import make_sample
from components.models.base.mixture.scenes import COLOURS, KINDS, Glyph, Scene, Thing
from components.models.base.tiny import vision_config
from components.models.base.vision_pretraining import LABEL_NAMES, TowerWithHeads, _draw_chunk

MIXTURE_SAMPLES = 4000
TASK_ITEMS = 400
# Answers any visual question set may share: numbers, yes / no, single letters, colour names.
GENERIC = re.compile(r"^(\d+|yes|no|[a-z]|\([a-z]\)|" + "|".join(COLOURS) + r")$")


def _sentences(question: str) -> set[str]:
    """A question's sentences, numbers and quoted choices folded, so that a template is found
    whatever it was filled with."""
    text = re.sub(r"\d+", "#", question.lower())
    return {part.strip() for part in re.split(r"(?<=[.?!])\s+", text) if part.strip()}


@pytest.fixture(scope="module")
def mixture() -> list[tuple[str, str]]:
    rng = random.Random(0)
    return [
        (s.question, s.answer) for _, s, _ in (make_sample(rng) for _ in range(MIXTURE_SAMPLES))
    ]


@pytest.fixture(scope="module")
def tasks() -> dict[str, list[tuple[str, str]]]:
    drawn: dict[str, list[tuple[str, str]]] = {}
    for task, make in MAKERS.items():
        items = []
        for split in ("train", "test"):
            rng = split_rng(0, task, split)
            for _ in range(TASK_ITEMS // 2):
                item = make(rng, split)
                answers = [item.answer] if isinstance(item.answer, str) else item.answer
                items += [(item.question, a) for a in answers]
        drawn[task] = items
    return drawn


def test_no_task_question_template_is_in_the_mixture(mixture, tasks):
    ours = set().union(*(_sentences(q) for q, _ in mixture))
    for task, items in tasks.items():
        theirs = set().union(*(_sentences(q) for q, _ in items))
        shared = {s for s in ours & theirs if not re.fullmatch(r"[a-z#]\.?", s)}
        assert not shared, f"{task}'s question sentences in the mixture: {sorted(shared)}"


def test_the_mixture_answers_no_task_specific_answer(mixture, tasks):
    ours = {a.lower() for _, a in mixture}
    for task, items in tasks.items():
        theirs = {a.lower() for _, a in items}
        shared = {a for a in ours & theirs if not GENERIC.match(a)}
        assert not shared, f"{task}'s answers in the mixture: {sorted(shared)}"


def test_the_mixture_teaches_every_question_family(mixture):
    rng = random.Random(1)
    families = {make_sample(rng)[2] for _ in range(400)}
    assert families == {"objects", "text", "chart", "panels", "arithmetic"}
    lettered = [q for q, a in mixture if "Reply with one letter." in q]
    assert lettered and all(a in "ABCD" for q, a in mixture if q in lettered)


def test_labels_put_each_object_and_character_in_its_patch():
    things = [Thing("oval", "red", (0, 0, 10, 10)), Thing("ring", "blue", (50, 50, 62, 62))]
    scene = Scene(Image.new("RGB", (64, 64)), "objects", background="white", things=things)
    labels = scene_labels(scene, image_size=64, patch_size=16)
    assert labels["count"] == 2 and labels["trend"] == IGNORE
    assert labels["patch_kind"][0] == KINDS.index("oval") + 1
    assert labels["patch_colour"][15] == COLOUR_NAMES.index("blue") + 1
    assert sum(k > 0 for k in labels["patch_kind"]) == 2
    assert labels["kind_counts"][KINDS.index("ring")] == 1
    # a wide image is padded to a square around its centre: a glyph at its top-left corner
    # lands a quarter of the side lower in the tower's input (the second patch row)
    text = Scene(Image.new("RGB", (128, 64)), "text", text="Q", glyphs=[Glyph("Q", (4, 4))])
    labels = scene_labels(text, image_size=64, patch_size=16)
    assert labels["patch_char"][4] == CHARSET.index("Q") + 1 and labels["count"] == IGNORE


def test_the_tower_learns_from_every_head_and_ignores_what_is_not_said():
    config = TinyBaseConfig(vision_hidden=32, vision_layers=1, vision_heads=2)
    pixels, labels = _draw_chunk((0, 0, 64, config))
    model = TowerWithHeads(vision_config(config))
    batch = {name: torch.from_numpy(labels[name]) for name in LABEL_NAMES}
    loss = model(pixel_values=torch.from_numpy(pixels).float(), **batch)["loss"]
    loss.backward()
    assert torch.isfinite(loss)
    said = {name for name, values in batch.items() if (values != IGNORE).any()}
    assert {"scene", "count", "trend", "kinds", "kind_counts", "patch_char"} <= said
    assert all((model.heads[name].weight.grad is not None) == (name in said) for name in batch)
    unsaid = {name: torch.full_like(values, IGNORE) for name, values in batch.items()}
    unsaid["scene"] = batch["scene"]  # only the scene's kind said
    loss = model(pixel_values=torch.from_numpy(pixels).float(), **unsaid)["loss"]
    assert torch.isfinite(loss)
