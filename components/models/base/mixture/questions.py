"""Questions about a scene, in the mixture's own phrasing (none of a benchmark task's), and the
text-only arithmetic a real LLM would bring along. Each answer is read off the scene's record."""

from __future__ import annotations

import random
import string
from collections.abc import Callable

from components.models.base.mixture.scenes import (
    COLOURS,
    KINDS,
    TRENDS,
    Scene,
    chart_scene,
    objects_scene,
    panel_words,
    panels_scene,
    text_scene,
    where_words,
)
from components.models.prompts import Sample

# fmt: off
WORDS = (
    "apple", "water", "house", "green", "light", "paper", "river", "stone", "cloud", "table",
    "chair", "window", "door", "plant", "music", "bread", "glass", "happy", "quick", "slow",
    "open", "close", "north", "south", "east", "west", "winter", "summer", "spring", "autumn",
    "horse", "mouse", "train", "plane", "boat", "road", "city", "park", "garden", "field", "hill",
    "lake", "ocean", "shirt", "shoe", "phone", "clock", "lamp", "desk", "pen", "cup", "plate",
    "spoon", "fork", "knife", "bottle", "box", "bag", "key", "map", "note", "list", "page",
    "line", "word", "name", "time", "day", "week", "year", "hour", "minute", "street", "price",
    "sale", "exit", "entry", "push", "pull", "stop", "wait", "help", "info", "menu", "save",
    "load", "next", "back", "more", "less", "play", "pause",
)
# fmt: on
OPTION_LETTERS = "ABCD"
Question = tuple[str, str]


def random_text(rng: random.Random) -> str:
    """A word, a number or a string of letters and digits (never two capitals alone)."""
    kind = rng.choices(["word", "number", "mixed"], [4, 3, 3])[0]
    if kind == "word":
        word = rng.choice(WORDS)
        return rng.choice([word, word.capitalize(), word.upper()])
    if kind == "number":
        return str(rng.randint(0, 10 ** rng.randint(1, 3) - 1))
    alphabet = string.ascii_letters + string.digits
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(3, 5)))


def _unique(scene: Scene) -> list:
    """The things no other thing shares both kind and colour with."""
    pairs = [(t.kind, t.colour) for t in scene.things]
    return [t for t in scene.things if pairs.count((t.kind, t.colour)) == 1]


def _object_questions(rng: random.Random, scene: Scene) -> list[Question]:
    things, size = scene.things, scene.image.size
    kinds = {t.kind for t in things}
    colours = {t.colour for t in things}
    asked_kind, asked_colour = rng.choice(KINDS), rng.choice(list(COLOURS))
    found = [
        ("Count the objects.", str(len(things))),
        (f"How many {asked_kind}s can you see?", str(sum(t.kind == asked_kind for t in things))),
        (f"Count the {asked_colour} things.", str(sum(t.colour == asked_colour for t in things))),
        (f"Is there a {asked_kind} in the picture?", "yes" if asked_kind in kinds else "no"),
        (f"Is anything {asked_colour}?", "yes" if asked_colour in colours else "no"),
    ]
    if scene.background:
        found.append(("Name the background colour.", scene.background))
    if len(kinds) == 1 and things:
        found.append(("Name the shape of the objects.", things[0].kind))
    if len(colours) == 1 and things:
        found.append(("Which colour are the objects?", things[0].colour))
    unique = _unique(scene)
    if unique:
        thing = rng.choice(unique)
        found.append(
            (f"Where is the {thing.colour} {thing.kind}?", where_words(thing.centre, size))
        )
        if [t.kind for t in things].count(thing.kind) == 1:
            found.append((f"Which colour is the {thing.kind}?", thing.colour))
        if [t.colour for t in things].count(thing.colour) == 1:
            found.append((f"Name the shape of the {thing.colour} object.", thing.kind))
    if len(unique) >= 2:
        a, b = rng.sample(unique, 2)
        (ax, ay), (bx, by) = a.centre, b.centre
        if abs(ax - bx) > 4:
            found.append(
                (f"Is the {a.colour} {a.kind} left of the {b.colour} {b.kind}?",
                 "yes" if ax < bx else "no")
            )  # fmt: skip
        if abs(ay - by) > 4:
            found.append(
                (f"Is the {a.colour} {a.kind} above the {b.colour} {b.kind}?",
                 "yes" if ay < by else "no")
            )  # fmt: skip
        area_a, area_b = (a.box[2] - a.box[0]), (b.box[2] - b.box[0])
        if abs(area_a - area_b) >= 4:
            bigger = a if area_a > area_b else b
            found.append(
                (f"Which is bigger, the {a.colour} {a.kind} or the {b.colour} {b.kind}?",
                 f"the {bigger.colour} {bigger.kind}")
            )  # fmt: skip
    return found


def _text_questions(rng: random.Random, scene: Scene) -> list[Question]:
    text = scene.text or ""
    found = [("Read the text.", text), ("What does the sign say?", text)]
    if text.isdigit():
        found.append(("Read the number.", text))
    shown = text if rng.random() < 0.5 else random_text(rng)
    found.append((f"Does the text say {shown}?", "yes" if shown == text else "no"))
    found.append(("How many characters are written?", str(len(text))))
    return found


def _chart_questions(rng: random.Random, scene: Scene) -> list[Question]:
    values = scene.values
    trend = scene.trend or "flat"
    noun = "line" if scene.chart == "line" else "bars"
    found = [
        (f"Are the {noun} rising, falling or flat?", trend),
        ("Describe the direction of the chart.", trend),
        ("Does the chart end higher than it starts?", "yes" if values[-1] > values[0] else "no"),
    ]
    if scene.chart == "bars":
        found.append(("Which bar is the tallest? Count from the left.",
                      str(values.index(max(values)) + 1)))  # fmt: skip
        found.append(("How many bars are there?", str(len(values))))
    return found


def _panel_questions(rng: random.Random, scene: Scene) -> list[Question]:
    grid = scene.panel_grid or (1, 1)
    target = scene.things[0]
    return [
        (f"Which panel holds the {target.colour} {target.kind}?",
         panel_words(scene.panel or 0, grid)),
        ("How many panels are there?", str(grid[0] * grid[1])),
        ("How many panels are not empty?", str(len(scene.things))),
    ]  # fmt: skip


def _arithmetic(rng: random.Random) -> Question:
    a, b = rng.randint(0, 20), rng.randint(0, 20)
    if rng.random() < 0.5:
        return rng.choice([f"Work out {a} plus {b}.", f"Add {a} and {b}."]), str(a + b)
    a, b = max(a, b), min(a, b)
    return rng.choice([f"Work out {a} minus {b}.", f"Take {b} from {a}."]), str(a - b)


def as_options(rng: random.Random, question: Question, pool: list[str]) -> Question:
    """The question with four lettered options; the answer becomes the right one's letter."""
    text, truth = question
    wrong = [p for p in dict.fromkeys(pool) if p != truth]
    if len(wrong) < 3:
        return question
    options = [*rng.sample(wrong, 3), truth]
    rng.shuffle(options)
    listed = " ".join(f"{OPTION_LETTERS[i]}) {o}" for i, o in enumerate(options))
    return f"{text} Options: {listed}. Reply with one letter.", OPTION_LETTERS[options.index(truth)]


def _answer_pool(answer: str) -> list[str]:
    if answer.isdigit():
        return [str(n) for n in range(max(0, int(answer) - 4), int(answer) + 5)]
    for pool in (list(COLOURS), list(KINDS), list(TRENDS), ["yes", "no"]):
        if answer in pool:
            return pool
    return []


SceneMaker = Callable[[random.Random], tuple[Scene, list[Question]]]


def _objects(rng: random.Random) -> tuple[Scene, list[Question]]:
    scene = objects_scene(rng)
    return scene, _object_questions(rng, scene)


def _text(rng: random.Random) -> tuple[Scene, list[Question]]:
    scene = text_scene(rng, random_text(rng))
    return scene, _text_questions(rng, scene)


def _chart(rng: random.Random) -> tuple[Scene, list[Question]]:
    scene = chart_scene(rng)
    return scene, _chart_questions(rng, scene)


def _panels(rng: random.Random) -> tuple[Scene, list[Question]]:
    scene = panels_scene(rng)
    return scene, _panel_questions(rng, scene)


MAKERS: dict[str, tuple[SceneMaker, float]] = {
    "objects": (_objects, 0.4),
    "text": (_text, 0.3),
    "chart": (_chart, 0.15),
    "panels": (_panels, 0.15),
}


def make_sample(rng: random.Random) -> tuple[Scene, Sample, str]:
    """A scene, one question about it (one in ten: text-only arithmetic beside the image) and
    the question's family (the scene's kind, or `arithmetic`); a sixth of the questions come
    with lettered options."""
    maker = rng.choices([m for m, _ in MAKERS.values()], [w for _, w in MAKERS.values()])[0]
    drawn, questions = maker(rng)
    arithmetic = rng.random() < 0.1
    question = _arithmetic(rng) if arithmetic else rng.choice(questions)
    if rng.random() < 1 / 6:
        question = as_options(rng, question, _answer_pool(question[1]))
    family = "arithmetic" if arithmetic else drawn.kind
    return drawn, Sample(drawn.image, question[0], question[1]), family
