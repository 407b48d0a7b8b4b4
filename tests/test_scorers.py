"""Every branch of every official scoring rule (docs/method.md), with edge cases of our own."""

import pytest

from components.evaluation.scorers import (
    ScoringError,
    extract_math_answer,
    score,
    score_ai2d,
    score_app,
    score_finvis,
    score_math,
    score_ocr,
    score_pvqa,
    score_sat,
    score_sci,
)


def ann(answer, **extra):
    return {"question_id": "q", "answer": answer, "image": "images/x.png", **extra}


@pytest.mark.parametrize(
    ("pred", "gold", "expected"),
    [
        ("Unanswerable", "3", 0.0),  # skipped: counts as wrong
        ("3 Unanswerable", "3", 0.0),
        ("go straight now", "Go straight", 1.0),  # gold with a space: substring
        ("go right", "Go straight", 0.0),
        ("3", "3.", 1.0),  # dots leave a spaceless gold
        ("13", "3", 1.0),  # spaceless prediction: plain containment (official quirk)
        ("there are 3 buildings", "3", 1.0),  # " g" / "g " forms
        ("count: 3.", "3", 1.0),  # " g" form
        ("3, maybe", "3", 1.0),  # "g," form
        ("there are 13", "3", 0.0),  # no bounded form matches
        ("<CAM_FRONT,8,20>", "<CAM_FRONT,8,20>", 1.0),
    ],
)
def test_ai2d(pred, gold, expected):
    assert score_ai2d(pred, ann(gold)) == expected


@pytest.mark.parametrize(
    ("pred", "gold", "expected"),
    [
        ("Yes, clearly", "yes", 1.0),
        ("ROUND cells", "round", 1.0),
        ("oval", "round", 0.0),
        ("Unanswerable yes", "yes", 0.0),
    ],
)
def test_pvqa(pred, gold, expected):
    assert score_pvqa(pred, ann(gold)) == expected


@pytest.mark.parametrize(
    ("pred", "gold", "expected"),
    [
        ("Yes.", "Yes", 1.0),
        ("Y es", "yes", 1.0),
        ("yes, it rose", "Yes", 0.0),  # exact after removing spaces and dots only
        ("A", "A", 1.0),
        ("Unanswerable", "No", 0.0),
    ],
)
def test_finvis(pred, gold, expected):
    assert score_finvis(pred, ann(gold)) == expected


@pytest.mark.parametrize("prefix", ["AI2D", "TQA", "VQA", "SciVerse"])
def test_sci_exact_prefixes(prefix):
    annotation = ann("B", image=f"images/{prefix}_test_00001.png")
    assert score_sci("b", annotation) == 1.0
    assert score_sci("B.", annotation) == 0.0
    assert score_sci("The answer is B", annotation) == 0.0


def test_sci_mapqa_which_states_partial_credit():
    annotation = ann("Iowa, Texas", image="images/MapQA_test_00001.png")
    prompt = "Which states have the highest value in the map?"
    assert score_sci("Iowa, Texas", annotation, prompt) == 1.0
    assert score_sci("Ohio, Texas", annotation, prompt) == 0.5  # " texas" is in both lists
    assert score_sci("Texas, Ohio", annotation, prompt) == 0.0  # "texas" != " texas"
    assert score_sci("Iowa,Texas", annotation, prompt) == 0.5  # no stripping: "texas" != " texas"
    assert score_sci("Ohio", annotation, prompt) == 0.0


def test_sci_mapqa_other_questions_use_containment():
    annotation = ann("yes", image="images/MapQA_test_00002.png")
    assert score_sci("Yes, it does", annotation, "Does Utah have the highest value?") == 1.0
    assert score_sci("no", annotation, "Does Utah have the highest value?") == 0.0
    # an unknown prefix is MapQA too
    assert score_sci("yes", ann("yes", image="images/other.png"), "") == 1.0


def test_ocr_answers_and_categories():
    regular = ann(["cat", "Cat"], answer_type="Regular Text Recognition")
    assert score_ocr("The word is CAT", regular) == 1.0
    assert score_ocr("dog", regular) == 0.0
    assert score_ocr("ca\nt", ann("cat", answer_type="Regular Text Recognition")) == 1.0
    math = ann(["3+4"], answer_type="Handwritten Mathematical Expression Recognition")
    assert score_ocr(" 3 + 4\n", math) == 1.0
    assert score_ocr("x+y", ann(["X+Y"], answer_type=math["answer_type"])) == 0.0  # case kept
    assert score_ocr("42", ann("42")) == 1.0  # a string gold is a one-item list


def test_sat_normalises_both_sides():
    assert score_sat("(A) left", ann("(A)")) == 1.0
    assert score_sat("( a ).", ann("(A)")) == 1.0
    assert score_sat("A", ann("(A)")) == 0.0
    assert score_sat("(B)", ann("(A)")) == 0.0


@pytest.mark.parametrize(
    ("pred", "gold", "extra", "expected"),
    [
        ("B", "B", {}, 1.0),
        ("The answer is (B).", "B", {}, 1.0),
        ("C", "B", {}, 0.0),
        ("seven", "B", {}, 0.0),  # no letter to extract
        ("7", "7", {}, 1.0),
        ("7.0", "7", {}, 1.0),  # numbers compare as numbers
        ("It is 17", "7", {}, 0.0),
        ("no number", "7", {}, 0.0),
        ("B", "7", {"choices": ["5", "7", "9"]}, 1.0),  # a letter maps to its choice
        ("A", "7", {"choices": ["5", "7", "9"]}, 0.0),
        ("Triangle", "triangle", {}, 1.0),
    ],
)
def test_math(pred, gold, extra, expected):
    assert score_math(pred, ann(gold, **extra)) == expected


def test_math_extraction():
    assert extract_math_answer("(C)", ann("A")) == "C"
    assert extract_math_answer("x = -3", ann("-3")) == "-3"


def test_app_letter_exact():
    assert score_app(" b ", ann("B")) == 1.0
    assert score_app("B.", ann("B")) == 0.0


def test_score_divides_by_every_prediction_and_reports_categories():
    annotations = [
        {"question_id": 1, "answer": "(A)", "task": "Count", "type": "2D"},
        {"question_id": 2, "answer": "(B)", "task": "Relation", "type": "2D"},
        {"question_id": 3, "answer": "(A)", "task": "Count", "type": "2D"},
    ]
    predictions = [
        {"question_id": 1, "text": "(A)", "prompt": "p"},
        {"question_id": "2", "text": "(A)", "prompt": "p"},
        {"question_id": 3, "text": "Unanswerable (A)", "prompt": "p"},
    ]
    report = score("sat", annotations, predictions)
    assert report.samples == 3
    assert report.accuracy == pytest.approx(200 / 3)
    assert report.categories["task=Count"].accuracy == 100.0
    assert report.categories["task=Relation"].samples == 1
    assert report.as_dict()["categories"]["type=2D"]["hits"] == 2


def test_score_rejects_unknown_ids_and_scorers():
    with pytest.raises(ScoringError, match="prediction #0: question_id: '9'"):
        score("app", [{"question_id": 1, "answer": "A"}], [{"question_id": 9, "text": "A"}])
    with pytest.raises(ScoringError, match="unknown scorer"):
        score("bleu", [], [])
