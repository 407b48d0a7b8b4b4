"""Photometric augmentation of training images: colour changes that keep what is where.

The router learns from a 20-shot replay per task. With so few images it can tell the tasks
apart by their colours (light OCR pages, white VP scenes) instead of by what the question asks,
and an ability-track test set drawn in other colours then goes to the wrong expert. Seeing the
replay in changed colours makes colour a useless cue."""

from __future__ import annotations

import random

from PIL import Image, ImageEnhance, ImageOps


def photometric(image: Image.Image, rng: random.Random) -> Image.Image:
    """Invert or grey out (sometimes), rotate the colour channels (a hue change, sometimes) and
    change the brightness: a random draw of these, never a change of layout."""
    image = image.convert("RGB")
    draw = rng.random()
    if draw < 0.25:
        image = ImageOps.invert(image)
    elif draw < 0.4:
        image = ImageOps.grayscale(image).convert("RGB")
    if rng.random() < 0.5:
        channels = image.split()
        shift = rng.randrange(1, 3)
        image = Image.merge("RGB", channels[shift:] + channels[:shift])
    return ImageEnhance.Brightness(image).enhance(rng.uniform(0.6, 1.4))
