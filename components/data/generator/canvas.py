"""Drawing helpers shared by the task generators. Everything is drawn from a seeded
`random.Random`, with fonts that ship inside Pillow, so output is byte-identical per seed."""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Literal

from PIL import Image, ImageDraw, ImageFont

SIZE = 64
RGB = tuple[int, int, int]
FontKind = Literal["sans", "bitmap"]
BITMAP_LINE_HEIGHT = 11
Split = Literal["train", "test"]


@dataclass
class Item:
    """One generated sample: its image, the question, the gold answer(s) and extra test keys."""

    image: Image.Image
    question: str
    answer: str | list[str]
    extra: Mapping[str, object] = field(default_factory=dict)
    image_prefix: str = ""


def blank(
    color: RGB, width: int = SIZE, height: int = SIZE
) -> tuple[Image.Image, ImageDraw.ImageDraw]:
    image = Image.new("RGB", (width, height), color)
    return image, ImageDraw.Draw(image)


def jitter(rng: random.Random, color: RGB, amount: int = 12) -> RGB:
    return tuple(max(0, min(255, c + rng.randint(-amount, amount))) for c in color)  # type: ignore[return-value]


@lru_cache(maxsize=32)
def _sans(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)  # Aileron, bundled with Pillow's FreeType build


def text_image(text: str, kind: FontKind, height: int, fg: RGB, bg: RGB) -> Image.Image:
    """Text rendered tight on its background, about `height` pixels tall."""
    if kind == "sans":
        font = _sans(height)
        left, top, right, bottom = (round(edge) for edge in font.getbbox(text))
        image, draw = blank(bg, right - left + 2, bottom - top + 2)
        draw.text((1 - left, 1 - top), text, font=font, fill=fg)
        return image
    bitmap = ImageFont.load_default_imagefont()  # Pillow's built-in bitmap font, scaled up blockily
    left, top, right, bottom = bitmap.getbbox(text)
    small, draw = blank(bg, right - left + 2, bottom - top + 2)
    draw.text((1 - left, 1 - top), text, font=bitmap, fill=fg)
    scale = max(1, round(height / BITMAP_LINE_HEIGHT))  # one scale for every glyph
    return small.resize((small.width * scale, small.height * scale), Image.Resampling.NEAREST)


def paste_centered(
    canvas: Image.Image, piece: Image.Image, rng: random.Random, wobble: int = 3
) -> None:
    """Paste `piece` near the centre, shrunk to fit, shifted by up to `wobble` pixels."""
    limit = canvas.width - 4, canvas.height - 4
    if piece.width > limit[0] or piece.height > limit[1]:
        piece = piece.copy()
        piece.thumbnail(limit, Image.Resampling.LANCZOS)
    x = (canvas.width - piece.width) // 2 + rng.randint(-wobble, wobble)
    y = (canvas.height - piece.height) // 2 + rng.randint(-wobble, wobble)
    x = max(0, min(canvas.width - piece.width, x))
    y = max(0, min(canvas.height - piece.height, y))
    canvas.paste(piece, (x, y))


def distinct_cells(rng: random.Random, count: int, grid: int = 4) -> list[tuple[int, int]]:
    """`count` different cells of a grid x grid layout, in random order."""
    cells = [(col, row) for row in range(grid) for col in range(grid)]
    return rng.sample(cells, count)


def weighted_choice(rng: random.Random, weights: dict[str, float]) -> str:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def options_text(options: list[str], style: Literal["dot", "paren"] = "dot") -> str:
    """`A. x B. y` or `(A) x (B) y`."""
    letters = "ABCDEFGH"
    if style == "paren":
        return " ".join(f"({letters[i]}) {o}" for i, o in enumerate(options))
    return " ".join(f"{letters[i]}. {o}" for i, o in enumerate(options))
