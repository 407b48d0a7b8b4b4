"""What the pipeline knows about each benchmark task: its track, official scorer and the one-line
specialty that the router's prompt shows for its expert."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

Track = Literal["domain", "ability"]
ScorerName = Literal["ai2d", "pvqa", "finvis", "sci", "ocr", "sat", "math", "app"]


class TaskSpec(BaseModel, frozen=True):
    name: str
    track: Track
    scorer: ScorerName
    description: str


KNOWN_TASKS: dict[str, TaskSpec] = {
    spec.name: spec
    for spec in (
        TaskSpec(
            name="RS",
            track="domain",
            scorer="ai2d",
            description="remote sensing: aerial and satellite images, counts, presence, land use",
        ),
        TaskSpec(
            name="Med",
            track="domain",
            scorer="pvqa",
            description="medical: pathology slides, yes/no and short findings",
        ),
        TaskSpec(
            name="AD",
            track="domain",
            scorer="ai2d",
            description="autonomous driving: six camera views, ego actions and object positions",
        ),
        TaskSpec(
            name="Sci",
            track="domain",
            scorer="sci",
            description="science: diagrams, textbook figures and maps",
        ),
        TaskSpec(
            name="Fin",
            track="domain",
            scorer="finvis",
            description="finance: stock candlestick charts, trends and price moves",
        ),
        TaskSpec(
            name="OCR",
            track="ability",
            scorer="ocr",
            description="OCR: reading printed and handwritten text and digits in images",
        ),
        TaskSpec(
            name="Math",
            track="ability",
            scorer="math",
            description="math and logic: computing the value of expressions shown in images",
        ),
        TaskSpec(
            name="VP",
            track="ability",
            scorer="sat",
            description="visual perception: counting objects, spatial relations and depth",
        ),
        TaskSpec(
            name="APP",
            track="ability",
            scorer="app",
            description="GUI agent: finding the right control on app screenshots",
        ),
    )
}

TRACK_ORDER: dict[str, tuple[str, ...]] = {
    "domain": ("RS", "Med", "AD", "Sci", "Fin"),
    "ability": ("OCR", "Math", "VP", "APP"),
}

# The letters the MLLM-CL download's router sets answer with (letter -> task). Our own router
# assigns letters in arrival order; these maps only read the download's records.
OFFICIAL_LETTERS: dict[str, dict[str, str]] = {
    "domain": {"A": "Fin", "B": "Sci", "C": "Med", "D": "AD", "E": "RS"},
    "ability": {"A": "OCR", "B": "VP", "C": "Math", "D": "APP"},
}


def task_spec(name: str) -> TaskSpec:
    try:
        return KNOWN_TASKS[name]
    except KeyError:
        known = ", ".join(KNOWN_TASKS)
        raise KeyError(
            f"unknown task {name!r}: known tasks are {known}; "
            "describe other tasks in the source's benchmark.json (name, track, scorer, description)"
        ) from None
