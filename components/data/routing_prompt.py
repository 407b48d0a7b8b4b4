"""The prompt of the download's router records: a routing prompt around the task's question,
which sits between two fixed phrases. Reading recovers the question (so that our own router
template can wrap it); writing makes records of the same shape for the generated benchmarks."""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import BaseModel

from components.data.layout import IMAGE_TOKEN


class PromptMarkers(BaseModel, frozen=True):
    """The phrases around the question; the defaults are those of the MLLM-CL router sets."""

    question_start: str = "Here is the user's question:"
    question_end: str = "You only need to select the suitable model"


def recover_question(prompt: str, markers: PromptMarkers) -> str | None:
    """The question between the markers, or None when the prompt does not have that shape."""
    body = prompt.replace(IMAGE_TOKEN, "")
    start = body.find(markers.question_start)
    end = body.rfind(markers.question_end)
    if start < 0 or end < start + len(markers.question_start):
        return None
    question = body[start + len(markers.question_start) : end].strip()
    return question or None


def routing_prompt(pool: Mapping[str, str], question: str, markers: PromptMarkers) -> str:
    """A routing prompt in the download's shape (image first, the pool, the question between
    the markers), in our own words. `pool` maps each letter to its expert's specialty."""
    experts = "\n".join(f"- {letter}: {specialty}" for letter, specialty in pool.items())
    return (
        f"{IMAGE_TOKEN}\nYou pick the expert model best suited to a question about an image.\n"
        f"Experts:\n{experts}\n{markers.question_start} {question}\n"
        f"{markers.question_end}: reply with its letter only; do not answer the question."
    )
