"""The tiny base's visual world: scenes of objects, text, charts and panels, each drawn from a
seeded `random.Random` in one of many styles (backgrounds, palettes, sizes, fonts, polarities,
tilts, pixelation), and described by what is in it, so that questions and the vision tower's
training labels both come from the same record. Nothing here draws a benchmark task's images."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from typing import Literal

from PIL import Image, ImageDraw, ImageFilter

from components.models.base.mixture.fonts import FONTS, render_text

RGB = tuple[int, int, int]
SceneKind = Literal["objects", "text", "chart", "panels"]
SCENE_KINDS: tuple[SceneKind, ...] = ("objects", "text", "chart", "panels")

COLOURS: dict[str, RGB] = {
    "red": (215, 35, 35),
    "green": (40, 160, 60),
    "blue": (40, 75, 215),
    "yellow": (240, 215, 40),
    "orange": (245, 135, 25),
    "purple": (135, 55, 175),
    "black": (20, 20, 20),
    "white": (250, 250, 250),
    "gray": (128, 128, 128),
    "brown": (120, 75, 35),
    "cyan": (40, 200, 210),
}
KINDS = (
    "circle",
    "oval",
    "square",
    "bar",
    "triangle",
    "diamond",
    "arrow",
    "cross",
    "ring",
    "hexagon",
    "blob",
)
TRENDS = ("rising", "falling", "flat")
MAX_OBJECTS = 9
MIN_CONTRAST = 110  # RGB distance between an object's colour and its background's
ROWS, COLUMNS = ("top", "middle", "bottom"), ("left", "center", "right")


@dataclass
class Thing:
    kind: str
    colour: str
    box: tuple[int, int, int, int]

    @property
    def centre(self) -> tuple[float, float]:
        x0, y0, x1, y1 = self.box
        return (x0 + x1) / 2, (y0 + y1) / 2


@dataclass
class Glyph:
    char: str
    centre: tuple[float, float]


@dataclass
class Scene:
    """An image and what it shows. `background` is named only where it is one colour."""

    image: Image.Image
    kind: SceneKind
    background: str | None = None
    things: list[Thing] = field(default_factory=list)
    text: str | None = None
    glyphs: list[Glyph] = field(default_factory=list)  # where each character is (upright text)
    trend: str | None = None
    chart: Literal["line", "bars"] | None = None
    values: list[float] = field(default_factory=list)
    panel_grid: tuple[int, int] | None = None  # columns, rows
    panel: int | None = None  # the panel that holds `things[0]`


def jitter(rng: random.Random, colour: RGB, amount: int) -> RGB:
    return tuple(max(0, min(255, c + rng.randint(-amount, amount))) for c in colour)  # type: ignore[return-value]


def _canvas_size(rng: random.Random) -> tuple[int, int]:
    return rng.choice([(64, 64)] * 6 + [(96, 64), (64, 96), (80, 64), (128, 64)])


# --------------------------------------------------------------------------- backgrounds
@dataclass
class Background:
    image: Image.Image
    name: str | None  # a plain (or noisy) background's colour name
    colours: list[RGB]  # what it is painted with: objects keep clear of these


def _background(rng: random.Random, size: tuple[int, int]) -> Background:
    """A plain (named) colour, or a gradient, noise, stripes or blotches (not named)."""
    name = rng.choice(list(COLOURS))
    base = jitter(rng, COLOURS[name], 14)
    style = rng.choices(["plain", "gradient", "stripes", "blotches", "noise"], [5, 2, 1, 1, 1])[0]
    image = Image.new("RGB", size, base)
    draw = ImageDraw.Draw(image)
    width, height = size
    if style == "gradient":
        other = jitter(rng, COLOURS[rng.choice(list(COLOURS))], 14)
        for y in range(height):
            t = y / max(1, height - 1)
            draw.line(
                [0, y, width, y],
                fill=tuple(round(a + (b - a) * t) for a, b in zip(base, other, strict=True)),
            )
        return Background(image, None, [base, other])
    if style == "stripes":
        step, other = rng.randint(4, 10), jitter(rng, base, 40)
        for x in range(-height, width, step):
            draw.line([x, 0, x + height, height], fill=other, width=max(1, step // 3))
        return Background(image, None, [base, other])
    if style == "blotches":
        for _ in range(rng.randint(8, 20)):
            x, y, r = rng.randrange(width), rng.randrange(height), rng.randint(3, 9)
            draw.ellipse([x - r, y - r, x + r, y + r], fill=jitter(rng, base, 30))
        return Background(image, None, [base])
    if style == "noise":
        noise = Image.effect_noise(size, rng.randint(10, 30)).convert("RGB")
        return Background(Image.blend(image, noise, 0.15), name, [base])
    return Background(image, name, [base])


def visible_colours(avoid: list[RGB]) -> list[str]:
    """The colours that stand out against every colour in `avoid` (at least the one that
    stands out most)."""

    def contrast(name: str) -> float:
        return min(math.dist(COLOURS[name], other) for other in avoid)

    clear = [name for name in COLOURS if contrast(name) >= MIN_CONTRAST]
    return clear or [max(COLOURS, key=contrast)]


# ------------------------------------------------------------------------------ objects
def _polygon(cx: float, cy: float, radius: float, sides: int, turn: float) -> list[tuple]:
    return [
        (cx + radius * math.cos(turn + 2 * math.pi * i / sides),
         cy + radius * math.sin(turn + 2 * math.pi * i / sides))
        for i in range(sides)
    ]  # fmt: skip


def draw_thing(
    draw: ImageDraw.ImageDraw,
    rng: random.Random,
    kind: str,
    box: tuple[int, int, int, int],
    fill: RGB,
    outline: RGB | None,
) -> None:
    x0, y0, x1, y1 = box
    cx, cy, r = (x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) / 2
    if kind == "circle":
        draw.ellipse(box, fill=fill, outline=outline)
    elif kind == "oval":  # long side at least twice the short one, lying or standing
        if rng.random() < 0.5:
            draw.ellipse([x0, cy - r / 2, x1, cy + r / 2], fill=fill, outline=outline)
        else:
            draw.ellipse([cx - r / 2, y0, cx + r / 2, y1], fill=fill, outline=outline)
    elif kind == "square":
        draw.rectangle(box, fill=fill, outline=outline)
    elif kind == "bar":
        if rng.random() < 0.5:
            draw.rectangle([x0, cy - r / 2.5, x1, cy + r / 2.5], fill=fill, outline=outline)
        else:
            draw.rectangle([cx - r / 2.5, y0, cx + r / 2.5, y1], fill=fill, outline=outline)
    elif kind == "triangle":
        turn = rng.choice([-math.pi / 2, math.pi / 2]) + rng.uniform(-0.3, 0.3)
        draw.polygon(_polygon(cx, cy, r, 3, turn), fill=fill, outline=outline)
    elif kind == "diamond":
        draw.polygon(_polygon(cx, cy, r, 4, 0), fill=fill, outline=outline)
    elif kind == "hexagon":
        draw.polygon(_polygon(cx, cy, r, 6, rng.uniform(0, 1)), fill=fill, outline=outline)
    elif kind == "arrow":  # a shaft and a head, pointing one of four ways
        shape = [
            (-1, -0.25),
            (0.1, -0.25),
            (0.1, -0.7),
            (1, 0),
            (0.1, 0.7),
            (0.1, 0.25),
            (-1, 0.25),
        ]
        cos, sin = rng.choice([(1, 0), (0, 1), (-1, 0), (0, -1)])
        points = [(cx + r * (u * cos - v * sin), cy + r * (u * sin + v * cos)) for u, v in shape]
        draw.polygon(points, fill=fill, outline=outline)
    elif kind == "cross":
        w = max(1, r / 3)
        draw.rectangle([x0, cy - w, x1, cy + w], fill=fill)
        draw.rectangle([cx - w, y0, cx + w, y1], fill=fill)
    elif kind == "ring":
        draw.ellipse(box, outline=fill, width=max(2, round(r / 3)))
    else:  # blob: an irregular polygon, its corners at random radii
        sides = rng.randint(5, 8)
        angles = sorted(rng.uniform(0, 2 * math.pi) for _ in range(sides))
        points = []
        for a in angles:
            x = cx + r * rng.uniform(0.45, 1.0) * math.cos(a)
            points.append((x, cy + r * rng.uniform(0.45, 1.0) * math.sin(a)))
        draw.polygon(points, fill=fill, outline=outline)


def _free_box(
    rng: random.Random, size: tuple[int, int], side: int, taken: list[tuple[int, int, int, int]]
) -> tuple[int, int, int, int] | None:
    width, height = size
    for _ in range(40):
        x, y = rng.randint(1, width - side - 1), rng.randint(1, height - side - 1)
        box = (x, y, x + side, y + side)
        if all(x + side + 2 <= a or a2 + 2 <= x or y + side + 2 <= b or b2 + 2 <= y
               for a, b, a2, b2 in taken):  # fmt: skip
            return box
    return None


def place_things(
    rng: random.Random, background: Background, count: int, side_range=(8, 18)
) -> list[Thing]:
    """Up to `count` objects that do not touch, in one or several kinds, colours and sizes,
    each in a colour that stands out from the background."""
    image = background.image
    draw = ImageDraw.Draw(image)
    same_kind = rng.random() < 0.45
    same_colour = rng.random() < 0.35
    kind = rng.choice(KINDS)
    colours = visible_colours(background.colours)
    colour = rng.choice(colours)
    low, high = side_range
    scale = rng.randint(low, high)
    outline = jitter(rng, (20, 20, 20), 10) if rng.random() < 0.2 else None
    things: list[Thing] = []
    for _ in range(count):
        side = max(low, min(high, scale + rng.randint(-2, 2)))
        box = _free_box(rng, image.size, side, [t.box for t in things])
        if box is None:
            break
        thing = Thing(
            kind if same_kind else rng.choice(KINDS),
            colour if same_colour else rng.choice(colours),
            box,
        )
        draw_thing(draw, rng, thing.kind, box, jitter(rng, COLOURS[thing.colour], 18), outline)
        things.append(thing)
    return things


def objects_scene(rng: random.Random) -> Scene:
    background = _background(rng, _canvas_size(rng))
    count = rng.choices(range(MAX_OBJECTS + 1), [1, 4, 4, 4, 4, 3, 3, 2, 2, 2])[0]
    things = place_things(rng, background, count)
    image = background.image
    if rng.random() < 0.15:
        image = image.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 0.8)))
    return Scene(image, "objects", background=background.name, things=things)


# --------------------------------------------------------------------------------- text
def text_scene(rng: random.Random, text: str) -> Scene:
    """`text` in a random font, size, polarity, colour, position and (sometimes) tilt."""
    dark_on_light = rng.random() < 0.5
    bg_name = rng.choice(["white", "yellow", "cyan", "gray"] if dark_on_light else
                         ["black", "blue", "purple", "brown", "green", "red"])  # fmt: skip
    fg_name = rng.choice(["black", "blue", "red", "brown", "purple"] if dark_on_light else
                         ["white", "yellow", "cyan", "orange"])  # fmt: skip
    size = rng.choice([(64, 64)] * 4 + [(96, 64), (80, 64)])
    background = jitter(rng, COLOURS[bg_name], 20)
    image = Image.new("RGB", size, background)
    font = rng.choice(FONTS)
    height = rng.randint(12, 26)
    piece, centres = render_text(
        text, font, height, jitter(rng, COLOURS[fg_name], 25), background,
        pixelated=rng.random() < 0.25,
    )  # fmt: skip
    tilt = rng.uniform(-15, 15) if rng.random() < 0.3 else 0.0
    if tilt:
        piece = piece.rotate(
            tilt, expand=True, fillcolor=background, resample=Image.Resampling.BICUBIC
        )
    limit = size[0] - 2, size[1] - 2
    shrink = min(1.0, limit[0] / piece.width, limit[1] / piece.height)
    if shrink < 1.0:
        piece = piece.resize(
            (max(1, int(piece.width * shrink)), max(1, int(piece.height * shrink))),
            Image.Resampling.LANCZOS,
        )
    x = rng.randint(0, size[0] - piece.width)
    y = rng.randint(0, size[1] - piece.height)
    image.paste(piece, (x, y))
    glyphs = (
        [Glyph(c, (x + cx * shrink, y + cy * shrink)) for c, (cx, cy) in centres]
        if not tilt
        else []
    )
    return Scene(image, "text", text=text, glyphs=glyphs, background=bg_name)


# -------------------------------------------------------------------------------- charts
def _series(rng: random.Random, trend: str, count: int) -> list[float]:
    step = {"rising": 1.0, "falling": -1.0, "flat": 0.0}[trend] * rng.uniform(0.8, 1.6)
    noise = rng.uniform(0.2, 0.9)
    values, value = [], rng.uniform(-2, 2)
    for _ in range(count):
        values.append(value)
        value += step + rng.uniform(-noise, noise)
    if trend == "flat":  # flat: the ends within the noise of each other
        mean = sum(values) / len(values)
        values = [mean + (v - mean) * 0.3 for v in values]
    return values


def chart_scene(rng: random.Random) -> Scene:
    trend = rng.choice(TRENDS)
    chart: Literal["line", "bars"] = rng.choice(["line", "bars"])
    count = rng.randint(5, 12) if chart == "line" else rng.randint(3, 8)
    values = _series(rng, trend, count)
    size = rng.choice([(64, 64)] * 3 + [(96, 64)])
    dark = rng.random() < 0.3
    image = Image.new("RGB", size, jitter(rng, (30, 30, 40) if dark else (248, 248, 245), 8))
    draw = ImageDraw.Draw(image)
    width, height = size
    left, bottom, top = 6, height - 6, 6
    if rng.random() < 0.6:
        axis = (200, 200, 200) if dark else (60, 60, 60)
        draw.line([left - 2, top, left - 2, bottom + 2, width - 2, bottom + 2], fill=axis)
    low, high = min(values), max(values)
    span = max(high - low, 3.0)
    low -= (span - (high - low)) / 2

    def y_of(v: float) -> float:
        return bottom - (v - low) / span * (bottom - top)

    colour = jitter(rng, COLOURS[rng.choice(["red", "blue", "green", "orange", "purple"])], 20)
    step = (width - left - 4) / count
    if chart == "line":
        points = [(left + step * (i + 0.5), y_of(v)) for i, v in enumerate(values)]
        draw.line(points, fill=colour, width=rng.choice([1, 2, 2, 3]))
        if rng.random() < 0.4:
            for px, py in points:
                draw.ellipse([px - 1.5, py - 1.5, px + 1.5, py + 1.5], fill=colour)
    else:
        for i, v in enumerate(values):
            x0 = left + step * i + 1
            draw.rectangle([x0, y_of(v), x0 + step * 0.7, bottom], fill=colour)
    return Scene(image, "chart", trend=trend, chart=chart, values=values)


# -------------------------------------------------------------------------------- panels
def panels_scene(rng: random.Random) -> Scene:
    """A grid of framed views (a screen of buttons, a camera mosaic, a comic strip) with one
    object to find and some distractors."""
    columns, rows = rng.choice([(2, 2), (3, 2), (2, 3), (3, 3), (3, 1), (1, 3)])
    side = rng.choice([20, 24, 28, 32])
    width, height = columns * side, rows * side
    painted = _background(rng, (width, height))
    image, background = painted.image, painted.name
    draw = ImageDraw.Draw(image)
    frame = jitter(rng, COLOURS[rng.choice(list(COLOURS))], 20)
    for c in range(1, columns):
        draw.line([c * side, 0, c * side, height], fill=frame, width=rng.choice([1, 2]))
    for r in range(1, rows):
        draw.line([0, r * side, width, r * side], fill=frame, width=rng.choice([1, 2]))
    cells = rng.sample(range(columns * rows), rng.randint(1, min(4, columns * rows)))
    colours = visible_colours([*painted.colours, frame])
    things: list[Thing] = []
    for cell in cells:
        while True:
            kind, colour = rng.choice(KINDS), rng.choice(colours)
            if all((kind, colour) != (t.kind, t.colour) for t in things):
                break
        item = rng.randint(side // 3, side - 8)
        x = (cell % columns) * side + rng.randint(3, side - item - 3)
        y = (cell // columns) * side + rng.randint(3, side - item - 3)
        thing = Thing(kind, colour, (x, y, x + item, y + item))
        draw_thing(draw, rng, kind, thing.box, jitter(rng, COLOURS[colour], 18), None)
        things.append(thing)
    return Scene(
        image, "panels", background=background, things=things,
        panel_grid=(columns, rows), panel=cells[0],
    )  # fmt: skip


def where_words(centre: tuple[float, float], size: tuple[int, int]) -> str:
    """A point's place in a 3 x 3 split of the image: `top left` ... `bottom right`."""
    x, y = centre
    return f"{ROWS[min(2, int(3 * y / size[1]))]} {COLUMNS[min(2, int(3 * x / size[0]))]}"


def panel_words(panel: int, grid: tuple[int, int]) -> str:
    """A panel's place: `row 2, column 1` (1-based)."""
    columns, _ = grid
    return f"row {panel // columns + 1}, column {panel % columns + 1}"
