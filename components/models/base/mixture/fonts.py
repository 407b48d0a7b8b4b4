"""Fonts for the mixture's text: the DejaVu, STIX and Computer Modern faces that ship with
matplotlib, Pillow's bundled sans and its bitmap font. Nothing is read from the system, so a
mixture is the same on every machine."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import matplotlib
from PIL import Image, ImageDraw, ImageFont

RGB = tuple[int, int, int]
PILLOW_SANS, PILLOW_BITMAP = "pillow-sans", "pillow-bitmap"
_MATPLOTLIB_FACES = (
    "DejaVuSans.ttf",
    "DejaVuSans-Bold.ttf",
    "DejaVuSans-Oblique.ttf",
    "DejaVuSansMono.ttf",
    "DejaVuSansMono-Bold.ttf",
    "DejaVuSerif.ttf",
    "DejaVuSerif-Bold.ttf",
    "DejaVuSerif-Italic.ttf",
    "STIXGeneral.ttf",
    "STIXGeneralBol.ttf",
    "cmss10.ttf",
    "cmtt10.ttf",
)
BITMAP_LINE_HEIGHT = 11


def _matplotlib_fonts() -> list[str]:
    folder = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    return [str(folder / face) for face in _MATPLOTLIB_FACES if (folder / face).is_file()]


FONTS: tuple[str, ...] = (PILLOW_SANS, PILLOW_BITMAP, *_matplotlib_fonts())


@lru_cache(maxsize=256)
def _font(name: str, size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    if name == PILLOW_SANS:
        return ImageFont.load_default(size=size)
    if name == PILLOW_BITMAP:
        return ImageFont.load_default_imagefont()
    return ImageFont.truetype(name, size)


def render_text(
    text: str, font: str, height: int, fg: RGB, bg: RGB, pixelated: bool = False
) -> tuple[Image.Image, list[tuple[str, tuple[float, float]]]]:
    """`text` tight on its background about `height` px tall, and each visible character's
    centre in that image. The bitmap font, and any font when `pixelated`, is drawn small and
    scaled up blockily."""
    scale = 1
    size = height
    if font == PILLOW_BITMAP:
        scale = max(1, round(height / BITMAP_LINE_HEIGHT))
    elif pixelated:
        scale = 2
        size = max(6, height // 2)
    face = _font(font, size)
    left, top, right, bottom = (round(v) for v in face.getbbox(text))
    image = Image.new("RGB", (right - left + 2, bottom - top + 2), bg)
    ImageDraw.Draw(image).text((1 - left, 1 - top), text, font=face, fill=fg)
    centres = []
    for index, char in enumerate(text):
        if char.isspace():
            continue
        start = face.getlength(text[:index])
        end = face.getlength(text[: index + 1])
        centres.append((char, (((start + end) / 2 + 1 - left) * scale, image.height * scale / 2)))
    if scale > 1:
        image = image.resize((image.width * scale, image.height * scale), Image.Resampling.NEAREST)
    return image, centres
