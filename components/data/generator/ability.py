"""Ability-track look-alikes: OCR, Math, VP, APP. Train and test are NOT IID: the test split is
drawn in a shifted style (other font, colours, layout and number ranges)."""

from __future__ import annotations

import random

from PIL import Image, ImageDraw

from components.data.generator.canvas import (
    RGB,
    SIZE,
    FontKind,
    Item,
    Split,
    blank,
    jitter,
    options_text,
    paste_centered,
    text_image,
    weighted_choice,
)


def _text_style(rng: random.Random, split: Split) -> tuple[FontKind, RGB, RGB]:
    """Train: FreeType sans, dark on light. Test: the bitmap font, light on dark."""
    if split == "train":
        return "sans", jitter(rng, (20, 20, 30), 20), jitter(rng, (235, 235, 225), 15)
    return "bitmap", jitter(rng, (250, 230, 120), 5), jitter(rng, (40, 40, 90), 15)


def _render(
    rng: random.Random, split: Split, text: str, height: int = 22, tilt: float = 0
) -> Image.Image:
    kind, fg, bg = _text_style(rng, split)
    canvas, _ = blank(bg)
    piece = text_image(text, kind, height, fg, bg)
    if tilt:
        piece = piece.rotate(tilt, expand=True, fillcolor=bg, resample=Image.Resampling.BICUBIC)
    paste_centered(canvas, piece, rng)
    return canvas


# ------------------------------------------------------------------------ OCR (OCRBench-like)
WORDS = ["cat", "dog", "sun", "tree", "book", "fish", "car", "home", "bird", "star", "moon", "rain"]
LETTERS = "ABCDEFGH"
OCR_CATEGORIES = {
    "Regular Text Recognition": 0.35,
    "Digit String Recognition": 0.3,
    "Non-Semantic Text Recognition": 0.15,
    "Handwritten Mathematical Expression Recognition": 0.2,
}


def _handwritten(rng: random.Random, split: Split, text: str) -> Image.Image:
    """Each character on its own baseline and slant, like handwriting."""
    kind, fg, bg = _text_style(rng, split)
    canvas, _ = blank(bg)
    x = 6
    for char in text:
        glyph = text_image(char, kind, 20, fg, bg).rotate(
            rng.uniform(-15, 15), expand=True, fillcolor=bg, resample=Image.Resampling.BICUBIC
        )
        y = 20 + rng.randint(-5, 5)
        canvas.paste(glyph, (min(x, SIZE - glyph.width), min(y, SIZE - glyph.height)))
        x += glyph.width + rng.randint(0, 2)
    return canvas


def make_ocr(rng: random.Random, split: Split) -> Item:
    category = weighted_choice(rng, OCR_CATEGORIES)
    extra = {"answer_type": category}
    tilt = rng.uniform(-12, 12) if split == "test" else 0.0
    if category == "Regular Text Recognition":
        word = rng.choice(WORDS)
        image = _render(rng, split, word, tilt=tilt)
        return Item(image, "what is written in the image?", [word, word.capitalize()], extra)
    if category == "Digit String Recognition":
        digits = str(rng.randint(10, 99))
        return Item(
            _render(rng, split, digits, tilt=tilt),
            "what is the number in the image?",
            [digits],
            extra,
        )
    if category == "Non-Semantic Text Recognition":
        letters = "".join(rng.choice(LETTERS) for _ in range(2))
        return Item(
            _render(rng, split, letters, tilt=tilt),
            "what are the letters in the image?",
            [letters],
            extra,
        )
    expression = f"{rng.randint(1, 9)}+{rng.randint(1, 9)}"
    image = _handwritten(rng, split, expression)
    return Item(image, "what is the expression in the image?", [expression], extra)


# ------------------------------------------------------------------------ Math (MathVista-like)
def make_math(rng: random.Random, split: Split) -> Item:
    low, high = (0, 9) if split == "train" else (3, 14)
    a, b = rng.randint(low, high), rng.randint(low, high)
    operator = rng.choice(["+", "-"])
    if operator == "-" and b > a:
        a, b = b, a
    value = a + b if operator == "+" else a - b
    image = _render(rng, split, f"{a}{operator}{b}", height=20)
    extra: dict[str, object] = {"answer_type": "integer"}
    if rng.random() < 0.3:
        choices = sorted({value, value + 1, value + 2, max(0, value - 2), value + 3})[:4]
        if value not in choices:
            choices[-1] = value
        rng.shuffle(choices)
        extra |= {"question_type": "multi_choice", "choices": [str(c) for c in choices]}
        question = (
            "What is the value of the expression in the image? "
            f"Choices: {options_text([str(c) for c in choices], 'paren')} "
            "Answer with the option's letter."
        )
        return Item(image, question, "ABCD"[choices.index(value)], extra)
    extra["question_type"] = "free_form"
    question = "What is the value of the expression in the image? Answer with a number."
    return Item(image, question, str(value), extra)


# ------------------------------------------------------------------------ VP (CV-Bench-like)
def _blob(draw: ImageDraw.ImageDraw, split: Split, box: list[float], color: RGB) -> None:
    if split == "train":
        draw.ellipse(box, fill=color)
    else:
        draw.rectangle(box, fill=color, outline=(255, 255, 255))


def make_vp(rng: random.Random, split: Split) -> Item:
    background = (255, 255, 255) if split == "train" else jitter(rng, (70, 70, 70), 20)
    image, draw = blank(background)
    kind = weighted_choice(rng, {"Count": 0.6, "Relation": 0.2, "Depth": 0.2})
    if kind == "Count":
        count = rng.randint(1, 5)
        size = 10 if split == "train" else 8
        for cell in rng.sample(range(9), count):
            x = 4 + (cell % 3) * 20 + rng.randint(0, 4)
            y = 4 + (cell // 3) * 20 + rng.randint(0, 4)
            color = jitter(rng, (40, 90, 200) if split == "train" else (240, 160, 40), 30)
            _blob(draw, split, [x, y, x + size, y + size], color)
        options = [str(n) for n in range(1, 6)]
        question = (
            "How many objects are in the image? Select from the following choices. "
            + options_text(options, "paren")
        )
        return Item(image, question, f"({'ABCDE'[count - 1]})", {"type": "2D", "task": "Count"})
    red, blue = (220, 40, 40), (40, 70, 220)
    if kind == "Relation":
        red_left = rng.random() < 0.5
        xs = (8, 40) if red_left else (40, 8)
        y_red, y_blue = rng.randint(8, 40), rng.randint(8, 40)
        _blob(draw, split, [xs[0], y_red, xs[0] + 16, y_red + 16], red)
        _blob(draw, split, [xs[1], y_blue, xs[1] + 16, y_blue + 16], blue)
        options = ["left", "right"] if rng.random() < 0.5 else ["right", "left"]
        truth = "left" if red_left else "right"
        question = (
            "Is the red object to the left or to the right of the blue object? "
            + options_text(options, "paren")
        )
        return Item(
            image, question, f"({'AB'[options.index(truth)]})", {"type": "2D", "task": "Relation"}
        )
    red_near = rng.random() < 0.5
    near, far = (red, blue) if red_near else (blue, red)
    x_far, x_near = (6, 30) if rng.random() < 0.5 else (38, 4)
    _blob(draw, split, [x_far, 10, x_far + 12, 22], far)
    _blob(draw, split, [x_near, 30, x_near + 28, 58], near)
    options = ["the red object", "the blue object"]
    if rng.random() < 0.5:
        options.reverse()
    truth = "the red object" if red_near else "the blue object"
    question = "Which object is closer to the camera? " + options_text(options, "paren")
    return Item(image, question, f"({'AB'[options.index(truth)]})", {"type": "3D", "task": "Depth"})


# -------------------------------------------------------------------- APP (MMT-Bench GUI-like)
ACTIONS = {
    "home": "go to the home screen",
    "search": "search",
    "settings": "open the settings",
    "delete": "delete the item",
}
POSITIONS = ["top-left", "top-right", "bottom-left", "bottom-right"]


def _icon(draw: ImageDraw.ImageDraw, icon: str, cx: int, cy: int, color: RGB) -> None:
    if icon == "home":
        draw.polygon([(cx, cy - 7), (cx - 7, cy), (cx + 7, cy)], fill=color)
        draw.rectangle([cx - 5, cy, cx + 5, cy + 6], fill=color)
    elif icon == "search":
        draw.ellipse([cx - 6, cy - 6, cx + 3, cy + 3], outline=color, width=2)
        draw.line([cx + 2, cy + 2, cx + 7, cy + 7], fill=color, width=3)
    elif icon == "settings":
        for dx, dy in ((0, -7), (0, 7), (-7, 0), (7, 0), (-5, -5), (5, 5), (-5, 5), (5, -5)):
            draw.line([cx, cy, cx + dx, cy + dy], fill=color, width=2)
        draw.ellipse([cx - 4, cy - 4, cx + 4, cy + 4], fill=color)
    else:
        draw.rectangle([cx - 6, cy - 6, cx + 6, cy - 4], fill=color)
        draw.rectangle([cx - 4, cy - 3, cx + 4, cy + 7], fill=color)


def make_app(rng: random.Random, split: Split) -> Item:
    dark = split == "test"
    image, draw = blank((30, 30, 35) if dark else (245, 245, 248))
    draw.rectangle([0, 0, SIZE, 7], fill=(60, 60, 70) if dark else (60, 110, 220))
    icons = list(ACTIONS)
    rng.shuffle(icons)
    for index, icon in enumerate(icons):
        cx, cy = 18 + (index % 2) * 28, 22 + (index // 2) * 26
        button = jitter(rng, (70, 70, 80) if dark else (215, 220, 230), 8)
        if dark:
            draw.ellipse([cx - 11, cy - 11, cx + 11, cy + 11], fill=button)
        else:
            draw.rounded_rectangle([cx - 12, cy - 11, cx + 12, cy + 11], radius=4, fill=button)
        _icon(draw, icon, cx, cy, (250, 200, 60) if dark else (40, 40, 60))
    target = rng.choice(icons)
    question = (
        f"Which button should be tapped to {ACTIONS[target]}? "
        f"{options_text(POSITIONS)} Answer with the option's letter."
    )
    return Item(image, question, "ABCD"[icons.index(target)])
