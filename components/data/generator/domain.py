"""Domain-track look-alikes (train and test IID): RS, Med, AD, Sci, Fin."""

from __future__ import annotations

import random

from PIL import Image, ImageDraw

from components.data.generator.canvas import (
    SIZE,
    Item,
    Split,
    blank,
    distinct_cells,
    jitter,
    options_text,
    weighted_choice,
)

# ----------------------------------------------------------------------------- RS (RSVQA-like)
LAND_USE_COLORS = {
    "residential": (196, 192, 180),
    "farmland": (190, 200, 90),
    "forest": (40, 110, 50),
    "industrial": (150, 120, 95),
}


def _land_texture(rng: random.Random, draw: ImageDraw.ImageDraw, land: str) -> None:
    if land == "farmland":
        for x in range(0, SIZE, 8):
            draw.rectangle([x, 0, x + 3, SIZE], fill=jitter(rng, (150, 175, 60), 8))
    elif land == "forest":
        for _ in range(40):
            x, y = rng.randrange(SIZE), rng.randrange(SIZE)
            draw.ellipse([x - 3, y - 3, x + 3, y + 3], fill=jitter(rng, (20, 80, 30), 8))
    elif land == "residential":
        for pos in (20, 44):
            draw.line([0, pos, SIZE, pos], fill=(120, 120, 120), width=2)
            draw.line([pos, 0, pos, SIZE], fill=(120, 120, 120), width=2)
    else:
        for y in range(2, SIZE, 10):
            draw.line([0, y, SIZE, y], fill=jitter(rng, (90, 80, 70), 6), width=3)


def make_rs(rng: random.Random, split: Split) -> Item:
    land = rng.choice(list(LAND_USE_COLORS))
    has_water = rng.random() < 0.5
    buildings = rng.randint(1, 4)
    image, draw = blank(jitter(rng, LAND_USE_COLORS[land], 8))
    _land_texture(rng, draw, land)
    if has_water:
        x, y = rng.randrange(0, SIZE - 26), rng.randrange(0, SIZE - 20)
        draw.ellipse([x, y, x + 26, y + 20], fill=jitter(rng, (40, 90, 200), 10))
    for col, row in distinct_cells(rng, buildings):
        x, y = col * 16 + 2 + rng.randint(-1, 1), row * 16 + 2 + rng.randint(-1, 1)
        draw.rectangle(
            [x, y, x + 11, y + 11], fill=jitter(rng, (225, 30, 30), 8), outline=(60, 0, 0)
        )
    kind = rng.choice(["count", "water", "land"])
    if kind == "count":
        return Item(image, "How many buildings are in the image?", str(buildings))
    if kind == "water":
        return Item(image, "Is there a water area in the image?", "yes" if has_water else "no")
    return Item(image, "What is the main land use in this image?", land)


# ------------------------------------------------------------------------ Med (PathVQA-like)
STAINS = {"pink": (235, 170, 200), "purple": (175, 130, 200), "blue": (150, 180, 230)}
NUCLEUS = {"pink": (110, 30, 110), "purple": (70, 20, 90), "blue": (20, 40, 120)}


def _nucleus(draw: ImageDraw.ImageDraw, rng: random.Random, shape: str, big: bool, color) -> None:
    x, y = rng.randrange(6, SIZE - 6), rng.randrange(6, SIZE - 6)
    r = 6 if big else 3
    if shape == "round":
        draw.ellipse([x - r, y - r, x + r, y + r], fill=color)
    elif shape == "elongated":
        draw.ellipse([x - 2 * r - 1, y - r // 2 - 1, x + 2 * r + 1, y + r // 2 + 1], fill=color)
    else:
        points = [
            (x + rng.randint(-2 * r, 2 * r), y + rng.randint(-2 * r, 2 * r)) for _ in range(5)
        ]
        draw.polygon(points, fill=color)


def make_med(rng: random.Random, split: Split) -> Item:
    stain = rng.choice(list(STAINS))
    shape = rng.choice(["round", "elongated", "irregular"])
    enlarged = rng.random() < 0.5
    image, draw = blank(jitter(rng, STAINS[stain], 10))
    for _ in range(15):
        x, y = rng.randrange(SIZE), rng.randrange(SIZE)
        draw.ellipse([x - 6, y - 4, x + 6, y + 4], fill=jitter(rng, STAINS[stain], 18))
    for _ in range(rng.randint(5, 8)):
        _nucleus(draw, rng, shape, enlarged, jitter(rng, NUCLEUS[stain], 12))
    kind = rng.choice(["shape", "enlarged", "stain"])
    if kind == "shape":
        return Item(image, "What is the shape of the nuclei in this tissue?", shape)
    if kind == "enlarged":
        return Item(image, "Are the nuclei enlarged?", "yes" if enlarged else "no")
    return Item(image, "What color is this tissue stained?", stain)


# ------------------------------------------------------------------------- AD (DriveLM-like)
CAMERAS = (
    "CAM_FRONT_LEFT",
    "CAM_FRONT",
    "CAM_FRONT_RIGHT",
    "CAM_BACK_LEFT",
    "CAM_BACK",
    "CAM_BACK_RIGHT",
)
VIEW = 32
ACTIONS = ["Go straight", "Stop", "Turn left", "Turn right"]


def _street_view(rng: random.Random) -> Image.Image:
    view, draw = blank(jitter(rng, (150, 200, 235), 10), VIEW, VIEW)
    draw.rectangle([0, 12, VIEW, VIEW], fill=jitter(rng, (95, 95, 100), 6))
    draw.line([VIEW // 2, 14, VIEW // 2, VIEW], fill=(235, 235, 235), width=1)
    return view


def _signal(draw: ImageDraw.ImageDraw, action: int) -> None:
    """A large sign over the road: a green or red light, or a turn arrow filling its half."""
    if action in (0, 1):  # traffic light: green means go straight, red means stop
        draw.rectangle([6, 0, 26, 16], fill=(20, 20, 20))
        draw.ellipse([9, 1, 23, 15], fill=(30, 200, 60) if action == 0 else (230, 30, 30))
        return
    draw.rectangle([4, 0, 28, 16], fill=(30, 80, 200) if action == 2 else (150, 40, 170))
    if action == 2:
        draw.polygon([(5, 8), (17, 1), (17, 15)], fill=(255, 255, 255))
    else:
        draw.polygon([(27, 8), (15, 1), (15, 15)], fill=(255, 255, 255))


def make_ad(rng: random.Random, split: Split) -> Item:
    action = rng.randrange(4)
    pedestrian_view, pedestrian_x = rng.randrange(6), rng.choice([8, 24])
    car_behind = rng.random() < 0.5
    mosaic = Image.new("RGB", (VIEW * 3, VIEW * 2))
    for index in range(6):
        view = _street_view(rng)
        draw = ImageDraw.Draw(view)
        if CAMERAS[index] == "CAM_FRONT":
            _signal(draw, action)
        if CAMERAS[index] == "CAM_BACK" and car_behind:
            draw.rectangle([6, 15, 26, 30], fill=jitter(rng, (30, 60, 160), 20))
        if index == pedestrian_view:
            x = pedestrian_x
            draw.ellipse([x - 4, 8, x + 4, 16], fill=(250, 220, 60))
            draw.rectangle([x - 4, 16, x + 4, 31], fill=(250, 220, 60))
        mosaic.paste(view, ((index % 3) * VIEW, (index // 3) * VIEW))
    kind = rng.choice(["action", "pedestrian", "behind"])
    if kind == "action":
        question = (
            "What should the ego vehicle do next? "
            f"{options_text(ACTIONS)} Answer with the option's letter."
        )
        return Item(mosaic, question, "ABCD"[action])
    if kind == "pedestrian":
        question = (
            "Where is the pedestrian? "
            "Answer as <camera,x,y> in the coordinates of that camera view."
        )
        return Item(mosaic, question, f"<{CAMERAS[pedestrian_view]},{pedestrian_x},20>")
    return Item(mosaic, "Is there a vehicle behind the ego car?", "yes" if car_behind else "no")


# -------------------------------------------------------------- Sci (AI2D / TQA / MapQA-like)
STAGES = ["egg", "larva", "pupa", "adult"]
PHASES = ["new moon", "first quarter", "full moon", "last quarter"]
STATES = ["Ohio", "Utah", "Iowa", "Texas", "Maine", "Idaho", "Kansas", "Nevada", "Oregon"]


def _life_stage(rng: random.Random, stage: int) -> Image.Image:
    image, draw = blank(jitter(rng, (245, 245, 235), 6))
    cx, cy = 32 + rng.randint(-4, 4), 32 + rng.randint(-4, 4)
    if stage == 0:
        for dx, dy in ((-6, -4), (5, -5), (0, 5), (-7, 7), (7, 6)):
            draw.ellipse(
                [cx + dx - 4, cy + dy - 5, cx + dx + 4, cy + dy + 5],
                fill=(250, 250, 200),
                outline=(120, 120, 60),
            )
    elif stage == 1:
        for i in range(6):
            x = cx - 20 + i * 8
            draw.ellipse([x - 5, cy - 5, x + 5, cy + 5], fill=(60, 170, 60), outline=(20, 90, 20))
    elif stage == 2:
        draw.ellipse([cx - 9, cy - 20, cx + 9, cy + 20], fill=(150, 100, 50), outline=(80, 50, 20))
        for y in range(cy - 12, cy + 13, 6):
            draw.line([cx - 7, y, cx + 7, y], fill=(90, 60, 30))
    else:
        wing = jitter(rng, (240, 140, 30), 15)
        draw.polygon([(cx, cy), (cx - 22, cy - 18), (cx - 18, cy + 4)], fill=wing)
        draw.polygon([(cx, cy), (cx + 22, cy - 18), (cx + 18, cy + 4)], fill=wing)
        draw.polygon([(cx, cy), (cx - 14, cy + 18), (cx - 4, cy + 16)], fill=wing)
        draw.polygon([(cx, cy), (cx + 14, cy + 18), (cx + 4, cy + 16)], fill=wing)
        draw.line([cx, cy - 12, cx, cy + 14], fill=(30, 30, 30), width=3)
    draw.line([4, 4, cx - 12, cy - 12], fill=(40, 40, 40))  # a label arrow, as diagrams have
    return image


def _moon(rng: random.Random, phase: int) -> Image.Image:
    image, draw = blank((10, 10, 30))
    r = 20 + rng.randint(-3, 3)
    cx, cy = 32 + rng.randint(-3, 3), 32 + rng.randint(-3, 3)
    box = [cx - r, cy - r, cx + r, cy + r]
    lit, dark = jitter(rng, (240, 240, 220), 8), (60, 60, 70)
    draw.ellipse(box, fill=lit if phase == 2 else dark)
    if phase == 1:
        draw.pieslice(box, -90, 90, fill=lit)
    elif phase == 3:
        draw.pieslice(box, 90, 270, fill=lit)
    return image


def _map(rng: random.Random, high: set[int]) -> Image.Image:
    image, draw = blank((255, 255, 255))
    for index in range(9):
        col, row = index % 3, index // 3
        shade = (
            jitter(rng, (20, 60, 140), 10) if index in high else jitter(rng, (190, 210, 235), 10)
        )
        draw.rectangle(
            [2 + col * 20, 2 + row * 20, 20 + col * 20, 20 + row * 20],
            fill=shade,
            outline=(90, 90, 90),
        )
    return image


def make_sci(rng: random.Random, split: Split) -> Item:
    kind = weighted_choice(rng, {"ai2d": 0.35, "tqa": 0.35, "map_states": 0.2, "map_yes_no": 0.1})
    if kind == "ai2d":
        stage = rng.randrange(4)
        question = (
            "Which stage of the insect life cycle is shown in the diagram? "
            f"{options_text(STAGES)} Answer with the option's letter."
        )
        return Item(_life_stage(rng, stage), question, "ABCD"[stage], image_prefix="AI2D")
    if kind == "tqa":
        phase = rng.randrange(4)
        question = (
            "Which phase of the moon is shown? "
            f"{options_text(PHASES)} Answer with the option's letter."
        )
        return Item(_moon(rng, phase), question, "ABCD"[phase], image_prefix="TQA")
    high = set(rng.sample(range(9), rng.randint(1, 2)))
    image = _map(rng, high)
    if kind == "map_states":
        answer = ", ".join(STATES[i] for i in sorted(high))
        return Item(
            image, "Which states have the highest value in the map?", answer, image_prefix="MapQA"
        )
    state = rng.randrange(9) if rng.random() < 0.5 else rng.choice(sorted(high))
    question = f"Does {STATES[state]} have the highest value in the map? Answer yes or no."
    return Item(image, question, "yes" if state in high else "no", image_prefix="MapQA")


# ---------------------------------------------------------------------- Fin (StockQA-like)
TRENDS = ["upward", "downward", "sideways"]


def _candles(rng: random.Random, trend: int, count: int = 9) -> list[tuple[float, float]]:
    drift = (1.6, -1.6, 0.0)[trend]
    price, candles = 50.0, []
    for _ in range(count):
        close = price + drift + rng.uniform(-1.4, 1.4)
        candles.append((price, close))
        price = close
    return candles


def make_fin(rng: random.Random, split: Split) -> Item:
    trend = rng.randrange(3)
    candles = _candles(rng, trend)
    low = min(min(c) for c in candles) - 2
    high = max(max(c) for c in candles) + 2
    scale = (SIZE - 8) / (high - low)
    image, draw = blank((250, 250, 250))
    for index, (open_, close) in enumerate(candles):
        x = 4 + index * 6 + 1
        top, bottom = max(open_, close), min(open_, close)
        y_top = 4 + (high - top) * scale
        y_bottom = max(y_top + 1, 4 + (high - bottom) * scale)
        color = (30, 160, 70) if close >= open_ else (210, 40, 40)
        draw.line([x + 2, y_top - 2, x + 2, y_bottom + 2], fill=(80, 80, 80))
        draw.rectangle([x, y_top, x + 4, y_bottom], fill=color)
    if rng.random() < 0.5:
        rose = candles[-1][1] > candles[0][0]
        question = (
            "Is the closing price of the last day higher than the opening price of the first day? "
            "Answer Yes or No."
        )
        return Item(image, question, "Yes" if rose else "No")
    question = f"What is the overall trend of this stock? {options_text(TRENDS)}"
    return Item(image, question, "ABC"[trend])
