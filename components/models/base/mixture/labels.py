"""What the vision tower is first taught to see in a scene, as class indices (-100: not said):
global labels read from the mean of its patch features (the scene's kind, how many objects in
all and of each kind and colour, which kinds and colours are present, the background, a chart's
trend) and, for each patch, the
object and the character centred in it. The tower learns objects, counts, colours, layout and
glyphs directly, as a real LLaVA's CLIP tower arrives knowing them."""

from __future__ import annotations

import string

from components.models.base.mixture.scenes import (
    COLOURS,
    KINDS,
    MAX_OBJECTS,
    SCENE_KINDS,
    TRENDS,
    Scene,
)

IGNORE = -100
CHARSET = string.ascii_letters + string.digits
COLOUR_NAMES = list(COLOURS)
# name -> classes; multi-hot labels are lists of 0/1 over their classes
GLOBAL_CLASSES = {
    "scene": len(SCENE_KINDS),
    "count": MAX_OBJECTS + 1,
    "background": len(COLOUR_NAMES),
    "trend": len(TRENDS),
}
MULTI_HOT_CLASSES = {"kinds": len(KINDS), "colours": len(COLOUR_NAMES)}
# name -> (groups, classes): how many objects of each kind, of each colour (0 to MAX_OBJECTS)
COUNT_CLASSES = {
    "kind_counts": (len(KINDS), MAX_OBJECTS + 1),
    "colour_counts": (len(COLOUR_NAMES), MAX_OBJECTS + 1),
}
PATCH_CLASSES = {
    "patch_kind": len(KINDS) + 1,
    "patch_colour": len(COLOUR_NAMES) + 1,
    "patch_char": len(CHARSET) + 1,
}


def _square_transform(size: tuple[int, int], image_size: int):
    """Image coordinates -> the processor's square input: padded to a square around the centre
    (LLaVA-1.5), then resized to image_size."""
    width, height = size
    side = max(width, height)
    scale = image_size / side

    def transform(point: tuple[float, float]) -> tuple[float, float]:
        return (point[0] + (side - width) / 2) * scale, (point[1] + (side - height) / 2) * scale

    return transform


def scene_labels(scene: Scene, image_size: int, patch_size: int) -> dict[str, list[int] | int]:
    grid = image_size // patch_size
    transform = _square_transform(scene.image.size, image_size)
    has_objects = scene.kind in ("objects", "panels")
    labels: dict[str, list[int] | int] = {
        "scene": SCENE_KINDS.index(scene.kind),
        "count": len(scene.things) if scene.kind == "objects" else IGNORE,
        "background": COLOUR_NAMES.index(scene.background) if scene.background else IGNORE,
        "trend": TRENDS.index(scene.trend) if scene.trend else IGNORE,
        "kinds": [int(k in {t.kind for t in scene.things}) for k in KINDS]
        if has_objects
        else [IGNORE] * len(KINDS),
        "colours": [int(c in {t.colour for t in scene.things}) for c in COLOUR_NAMES]
        if has_objects
        else [IGNORE] * len(COLOUR_NAMES),
        "kind_counts": [sum(t.kind == k for t in scene.things) for k in KINDS]
        if scene.kind == "objects"
        else [IGNORE] * len(KINDS),
        "colour_counts": [sum(t.colour == c for t in scene.things) for c in COLOUR_NAMES]
        if scene.kind == "objects"
        else [IGNORE] * len(COLOUR_NAMES),
    }

    def patch_of(point: tuple[float, float]) -> int | None:
        x, y = transform(point)
        column, row = int(x // patch_size), int(y // patch_size)
        return row * grid + column if 0 <= column < grid and 0 <= row < grid else None

    none_or_ignore = 0 if has_objects else IGNORE
    kinds = [none_or_ignore] * grid * grid
    colours = [none_or_ignore] * grid * grid
    for thing in scene.things:
        patch = patch_of(thing.centre)
        if patch is not None:
            kinds[patch] = KINDS.index(thing.kind) + 1
            colours[patch] = COLOUR_NAMES.index(thing.colour) + 1
    chars = [0 if scene.kind == "text" and scene.glyphs else IGNORE] * grid * grid
    for glyph in scene.glyphs:
        patch = patch_of(glyph.centre)
        if patch is not None and glyph.char in CHARSET:
            chars[patch] = CHARSET.index(glyph.char) + 1
    labels |= {"patch_kind": kinds, "patch_colour": colours, "patch_char": chars}
    return labels
