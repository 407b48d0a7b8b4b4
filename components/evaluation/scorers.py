"""The official MLLM-CL scoring rules (docs/method.md, "Scoring rules"), one function per rule.

Every rule takes the raw prediction text, the test annotation and the prompt the model saw, and
returns the item's score in [0, 1]. `score` divides by the number of predictions, as the official
scripts do: a skipped item (e.g. an `Unanswerable` prediction) counts as wrong.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

Annotation = Mapping[str, Any]
Rule = Callable[[str, Annotation, str], float]

UNANSWERABLE = "Unanswerable"
HANDWRITTEN_MATH = "Handwritten Mathematical Expression Recognition"
SCI_EXACT_PREFIXES = ("AI2D", "TQA", "VQA", "SciVerse")


def gold_answer(annotation: Annotation) -> str:
    """The answer an item is scored against (the first, where an item lists several)."""
    answer = annotation["answer"]
    return answer[0] if isinstance(answer, list) else str(answer)


def score_ai2d(pred: str, annotation: Annotation, prompt: str = "") -> float:
    """RS and AD: word-boundary-ish containment of the gold answer."""
    if UNANSWERABLE in pred:
        return 0.0
    p, g = pred.lower(), gold_answer(annotation).lower()
    if " " in g:
        return float(g in p)
    g = g.replace(".", "")
    if " " in p:
        return float(any(form in p for form in (" " + g, g + " ", g + ".", g + ",")))
    return float(g in p)


def score_pvqa(pred: str, annotation: Annotation, prompt: str = "") -> float:
    """Med: the gold answer is a substring of the prediction."""
    if UNANSWERABLE in pred:
        return 0.0
    return float(gold_answer(annotation).lower() in pred.lower())


def score_finvis(pred: str, annotation: Annotation, prompt: str = "") -> float:
    """Fin: exact match after dropping spaces and dots from the prediction."""
    if UNANSWERABLE in pred:
        return 0.0
    p = pred.lower().replace(" ", "").replace(".", "")
    return float(p == gold_answer(annotation).lower())


def score_sci(pred: str, annotation: Annotation, prompt: str = "") -> float:
    """Sci: exact match for AI2D/TQA/VQA/SciVerse images; MapQA gets list overlap or containment."""
    p, g = pred.lower(), gold_answer(annotation).lower()
    prefix = str(annotation["image"]).split("/")[-1].split("_")[0]
    if prefix in SCI_EXACT_PREFIXES:
        return float(p == g)
    if "Which states" in prompt:
        gold_items = g.split(",")
        pred_items = p.split(",")
        return sum(item in pred_items for item in gold_items) / len(gold_items)
    return float(g in p)


def _ocr_match(pred: str, gold: str, category: str) -> bool:
    if category == HANDWRITTEN_MATH:
        p = pred.strip().replace("\n", "").replace(" ", "")
        g = gold.strip().replace("\n", "").replace(" ", "")
    else:
        p = pred.lower().strip().replace("\n", "")
        g = gold.lower().strip().replace("\n", "")
    return g in p


def score_ocr(pred: str, annotation: Annotation, prompt: str = "") -> float:
    """OCR: any gold answer contained in the prediction (category-specific normalisation)."""
    answers = annotation["answer"]
    golds = answers if isinstance(answers, list) else [answers]
    category = str(annotation.get("answer_type", ""))
    return float(any(_ocr_match(pred, str(g), category) for g in golds))


def _sat_normalise(text: str) -> str:
    return text.lower().strip().replace(" ", "").replace("\n", "").replace(".", "")


def score_sat(pred: str, annotation: Annotation, prompt: str = "") -> float:
    """VP: normalised gold contained in the normalised prediction."""
    return float(_sat_normalise(gold_answer(annotation)) in _sat_normalise(pred))


_LETTER = re.compile(r"^\(?([A-Za-z])\)?[.:)]?$")
_LETTER_IN_TEXT = re.compile(r"(?:^|[\s(])\(?([A-E])\)?(?=$|[\s.,:)])")
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


def _as_letter(text: str) -> str | None:
    match = _LETTER.match(text.strip())
    return match.group(1).upper() if match else None


def extract_math_answer(pred: str, annotation: Annotation) -> str | None:
    """Rule-based answer extraction: an option letter for letter answers, else the first number,
    else the stripped text. Letters map to their choice when the annotation lists `choices`."""
    gold = gold_answer(annotation).strip()
    choices = annotation.get("choices") or []
    letter_match = _LETTER_IN_TEXT.search(pred.strip())
    if _as_letter(gold) is not None:
        return letter_match.group(1) if letter_match else None
    if choices and letter_match:
        index = ord(letter_match.group(1)) - ord("A")
        if index < len(choices):
            return str(choices[index]).strip()
    if _NUMBER.fullmatch(gold):
        number = _NUMBER.search(pred)
        return number.group(0) if number else None
    return pred.strip()


def score_math(pred: str, annotation: Annotation, prompt: str = "") -> float:
    """Math: exact comparison of the extracted answer (numbers compared as numbers)."""
    extracted = extract_math_answer(pred, annotation)
    if extracted is None:
        return 0.0
    gold = gold_answer(annotation).strip()
    if (letter := _as_letter(gold)) is not None:
        return float(extracted == letter)
    if _NUMBER.fullmatch(gold) and _NUMBER.fullmatch(extracted):
        return float(float(extracted) == float(gold))
    return float(extracted.lower() == gold.lower())


def score_app(pred: str, annotation: Annotation, prompt: str = "") -> float:
    """APP: the option letter, exactly."""
    return float(pred.strip().upper() == gold_answer(annotation).strip().upper())


RULES: dict[str, Rule] = {
    "ai2d": score_ai2d,
    "pvqa": score_pvqa,
    "finvis": score_finvis,
    "sci": score_sci,
    "ocr": score_ocr,
    "sat": score_sat,
    "math": score_math,
    "app": score_app,
}

# Which annotation key groups items into the per-category figures a scorer reports.
CATEGORY_KEYS: dict[str, tuple[str, ...]] = {"ocr": ("answer_type",), "sat": ("task", "type")}


@dataclass
class CategoryScore:
    hits: float = 0.0
    samples: int = 0

    @property
    def accuracy(self) -> float:
        return 100.0 * self.hits / self.samples if self.samples else 0.0


@dataclass
class ScoreReport:
    scorer: str
    hits: float
    samples: int
    categories: dict[str, CategoryScore] = field(default_factory=dict)
    items: list[float] = field(default_factory=list)  # each prediction's score, in their order

    @property
    def accuracy(self) -> float:
        return 100.0 * self.hits / self.samples if self.samples else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "scorer": self.scorer,
            "accuracy": self.accuracy,
            "samples": self.samples,
            "hits": self.hits,
            "categories": {
                name: {"accuracy": c.accuracy, "samples": c.samples, "hits": c.hits}
                for name, c in sorted(self.categories.items())
            },
        }


class ScoringError(ValueError):
    """Predictions that cannot be scored against the annotations."""


def score(
    scorer: str,
    annotations: Iterable[Annotation],
    predictions: Iterable[Mapping[str, Any]],
) -> ScoreReport:
    """Score predictions (official JSON-lines records) against test annotations."""
    if scorer not in RULES:
        raise ScoringError(f"unknown scorer {scorer!r}; choose one of {', '.join(RULES)}")
    rule = RULES[scorer]
    by_id = {str(a["question_id"]): a for a in annotations}
    report = ScoreReport(scorer=scorer, hits=0.0, samples=0)
    for index, prediction in enumerate(predictions):
        question_id = str(prediction.get("question_id"))
        if question_id not in by_id:
            raise ScoringError(
                f"prediction #{index}: question_id: {question_id!r} is not in the annotations"
            )
        annotation = by_id[question_id]
        prompt = str(prediction.get("prompt") or annotation.get("text", ""))
        item = rule(str(prediction.get("text", "")), annotation, prompt)
        report.hits += item
        report.samples += 1
        report.items.append(item)
        for key in CATEGORY_KEYS.get(scorer, ()):
            if key in annotation:
                category = report.categories.setdefault(f"{key}={annotation[key]}", CategoryScore())
                category.hits += item
                category.samples += 1
    return report
