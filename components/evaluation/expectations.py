"""What each method's paper leads one to expect, as a check on a benchmark's figures: the
published results come from 7B models on the real data, so the checks compare methods with
one another (with LoRA-FT, the plain sequential baseline, and with the Oracle row) rather than
with published numbers. Where a method departs, the report says so, with the cause that the
method's rule and this setup point to."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from statistics import fmean
from typing import TYPE_CHECKING

from components.evaluation.metrics import defined

if TYPE_CHECKING:
    from components.evaluation.report import BenchmarkResults

TOLERANCE = 1.0  # points: differences within it count as equal


@dataclass(frozen=True)
class Expectation:
    published: str  # what the method's paper reports, in words
    holds: Callable[[BenchmarkResults, str], bool | None]  # None: cannot be checked here
    cause: str  # the likely cause when it does not hold here


def _mean(results: BenchmarkResults, method: str, metric: str) -> float | None:
    """The metric's mean over the method's runs; None where it is not defined for them."""
    values = defined(results.spread(method)[metric])
    return None if values is None else fmean(values)


def _bwt(results: BenchmarkResults, method: str) -> float | None:
    return _mean(results, method, "BWT") if method in results.methods else None


def _forgets_less_than_lora_ft(results: BenchmarkResults, method: str) -> bool | None:
    own, baseline = _bwt(results, method), _bwt(results, "lora-ft")
    if own is None or baseline is None:
        return None
    return own > baseline + TOLERANCE


def _forgets_at_most_half_of_lora_ft(results: BenchmarkResults, method: str) -> bool | None:
    own, baseline = _bwt(results, method), _bwt(results, "lora-ft")
    if own is None or baseline is None:
        return None
    return own >= baseline / 2


def _near_oracle(results: BenchmarkResults, method: str) -> bool:
    oracle = fmean(results.oracle[t] for t in results.tasks)
    return (_mean(results, method, "MFN") or 0.0) >= oracle - 5.0


def _near_oracle_without_forgetting(results: BenchmarkResults, method: str) -> bool | None:
    bwt = _bwt(results, method)
    if bwt is None:
        return None
    return bwt >= -TOLERANCE and _near_oracle(results, method)


EXPECTATIONS: dict[str, Expectation] = {
    "mr-lora": Expectation(
        "final accuracy close to the Oracle row, no forgetting (experts are never retrained)",
        _near_oracle_without_forgetting,
        "a router that sends items to the wrong expert: see the router accuracy per step",
    ),
    "lora-ft-replay": Expectation(
        "less forgetting than LoRA-FT",
        _forgets_less_than_lora_ft,
        "20 replayed samples per earlier task are few beside a new task's training split",
    ),
    "o-lora": Expectation(
        "a fraction of sequential fine-tuning's forgetting (here: at most half of LoRA-FT's "
        "BWT), the earlier tasks' LoRAs frozen in their own subspaces",
        _forgets_at_most_half_of_lora_ft,
        "the later tasks' LoRAs, apart from the earlier ones' A subspaces but not silent on the "
        "earlier tasks' inputs, and the modules trained in full (projector, vocabulary copies "
        "of the CPU presets), which have no subspace to keep apart and continue from task to "
        "task as in LoRA-FT; benchmarks/chained_drift.py measures what each costs",
    ),
    "moelora": Expectation(
        "less forgetting than LoRA-FT in CoIN's tables",
        _forgets_less_than_lora_ft,
        "nothing reserves experts for a task: the gate and every expert keep training on each "
        "new task, so the mixture forgets as one LoRA does (others have reported this too)",
    ),
    "ewc": Expectation(
        "less forgetting than plain sequential fine-tuning",
        _forgets_less_than_lora_ft,
        "a diagonal Fisher from few samples, and one strength for every task: too weak to hold "
        "the weights the earlier tasks need, or strong enough to keep the new task from being "
        "learned (MLLMCL_EWC_STRENGTH)",
    ),
    "joint": Expectation(
        "the upper bound: every task learned together, each close to what its own expert "
        "reaches (here: MFN within 5 points of the Oracle row)",
        _near_oracle,
        "tasks that compete for one adapter's capacity: learned together, some lose what each "
        "would reach alone",
    ),
}


def reading_against_papers(results: BenchmarkResults) -> list[str]:
    """One line per method with an expectation: as published, or where and why it departs."""
    lines = []
    for name in results.methods:
        expectation = EXPECTATIONS.get(name)
        if expectation is None:
            continue
        holds = expectation.holds(results, name)
        if holds is None:
            continue
        figures = ", ".join(
            f"{metric} {value:.1f}"
            for metric in ("BWT", "MFN")
            if (value := _mean(results, name, metric)) is not None
        )
        if holds:
            lines.append(f"- {name}: as published ({expectation.published}): {figures}.")
        else:
            lines.append(
                f"- {name}: departs from what is published ({expectation.published}): "
                f"{figures}. Likely cause here: {expectation.cause}."
            )
    return lines
