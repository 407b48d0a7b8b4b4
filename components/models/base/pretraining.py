"""The tiny base's generic image-text mixture: colours, shapes, positions and counts on plain
canvases. It holds none of the continual tasks; it gives the base real visual grounding, so the
zero-shot row means something and experts start from features worth adapting."""

from __future__ import annotations

import random
from collections.abc import Iterator

from PIL import Image, ImageDraw

from components.models.base.tiny import chat_text
from components.models.mrlora.settings import DEFAULT_TEMPLATE
from components.models.prompts import Sample

COLORS = {
    "red": (220, 40, 40),
    "green": (40, 170, 60),
    "blue": (40, 80, 220),
    "yellow": (240, 210, 40),
    "orange": (245, 140, 30),
    "purple": (140, 60, 180),
    "black": (20, 20, 20),
    "white": (250, 250, 250),
    "gray": (128, 128, 128),
    "pink": (240, 150, 190),
}
SHAPES = ("circle", "square", "triangle")
ROWS, COLUMNS = ("top", "middle", "bottom"), ("left", "center", "right")
LETTERS = "ABCDE"
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


def _draw_shape(
    draw: ImageDraw.ImageDraw, shape: str, box: tuple[int, int, int, int], fill
) -> None:
    x0, y0, x1, y1 = box
    if shape == "circle":
        draw.ellipse(box, fill=fill)
    elif shape == "square":
        draw.rectangle(box, fill=fill)
    else:
        draw.polygon([((x0 + x1) // 2, y0), (x0, y1), (x1, y1)], fill=fill)


def _scene(rng: random.Random) -> tuple[Image.Image, str, list[tuple[str, str, str, str]]]:
    background = rng.choice(list(COLORS))
    width = rng.choice([64, 64, 64, 96])
    image = Image.new("RGB", (width, 64), COLORS[background])
    draw = ImageDraw.Draw(image)
    cell_w = width // 3
    count = rng.randint(1, 4)
    cells = rng.sample([(r, c) for r in range(3) for c in range(3)], count)
    objects = []
    for row, col in cells:
        color = rng.choice([c for c in COLORS if c != background])
        shape = rng.choice(SHAPES)
        size = rng.randint(10, 16)
        x = col * cell_w + (cell_w - size) // 2 + rng.randint(-2, 2)
        y = row * 21 + (21 - size) // 2 + rng.randint(-2, 2)
        _draw_shape(draw, shape, (x, y, x + size, y + size), COLORS[color])
        objects.append((color, shape, ROWS[row], COLUMNS[col]))
    return image, background, objects


def _multiple_choice(
    rng: random.Random, question: str, truth: str, pool: list[str]
) -> tuple[str, str]:
    """The generic answer-with-a-letter format, on a scene question."""
    options = [*rng.sample([p for p in pool if p != truth], 3), truth]
    rng.shuffle(options)
    listed = " ".join(f"{LETTERS[i]}. {o}" for i, o in enumerate(options))
    return f"{question} {listed} Answer with the option's letter.", LETTERS[options.index(truth)]


def make_sample(rng: random.Random) -> Sample:
    """A scene question (85%) or the same in the multiple-choice format (15%)."""
    image, background, objects = _scene(rng)
    if rng.random() < 0.15:
        question, letter = _multiple_choice(
            rng, "What is the background color?", background, list(COLORS)
        )
        return Sample(image, question, letter)
    color, shape, row, col = rng.choice(objects)
    count = len(objects)
    kind = rng.choice(["count", "color", "shape", "where", "exists", "background"])
    if kind == "count":
        return Sample(image, "How many shapes are there?", str(count))
    if kind == "color":
        return Sample(image, f"What color is the {shape} at the {row} {col}?", color)
    if kind == "shape":
        return Sample(image, f"What shape is at the {row} {col}?", shape)
    if kind == "where":
        return Sample(image, f"Where is the {color} {shape}?", f"{row} {col}")
    if kind == "exists":
        asked = rng.choice(list(COLORS))
        present = any(o[0] == asked for o in objects)
        return Sample(image, f"Is there a {asked} shape?", "yes" if present else "no")
    return Sample(image, "What is the background color?", background)


def pretraining_samples(count: int, seed: int) -> Iterator[Sample]:
    rng = random.Random(f"mllmcl-pretrain:{seed}")
    for _ in range(count):
        yield make_sample(rng)


def tokenizer_corpus(samples: list[Sample]) -> list[str]:
    """Text to learn the tokenizer from: the mixture's exchanges as the chat template writes
    them, the router's default instruction (the pipeline's own prompt), common words and
    digits. Byte-level BPE still encodes any other text (the experts learn new words' tokens)."""
    lines = [chat_text(s.question, s.answer) for s in samples]
    lines += [
        DEFAULT_TEMPLATE.replace("{", "").replace("}", ""),
        GENERAL_WORDS,
        " ".join(str(n) for n in range(101)),
        "A B C D E ( ) . , ? : < > _ - + =",
    ]
    return lines
