"""What a served bundle accepts from an untrusted client, checked before any work: image bytes
only (no server-side files unless an image folder is set), limits on rows, question length,
image bytes and pixels (read from the header), and the shape of the request body."""

import base64
import io
import time

import pytest
from PIL import Image

from components.serving.inputs import RequestError, check_rows, decode_image
from components.serving.limits import ServingLimits
from components.serving.protocol import read_columns
from tests.helpers import png_bomb

LIMITS = ServingLimits(max_rows=4, max_question_chars=50, max_image_pixels=100 * 100)


def _png(width=8, height=6, colour="red") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(buffer, format="PNG")
    return buffer.getvalue()


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def test_images_come_as_base64_or_data_uris():
    encoded = _b64(_png())
    for value in (encoded, f"data:image/png;base64,{encoded}", f"  {encoded}\n"):
        assert decode_image(value, LIMITS).size == (8, 6)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("data:image/png;base64", "data URI must read"),
        ("data:text/plain,hello", "data URI must read"),
        (_b64(b"not an image at all, just text"), "not an image"),
        (_b64(_png(64, 64, "blue")[:-30]), "truncated or corrupt"),
        (None, "expected an image"),
        (42, "expected an image"),
        ("", "expected an image"),
    ],
)
def test_bad_images_are_refused_with_a_reason(value, message):
    with pytest.raises(ValueError, match=message):
        decode_image(value, LIMITS)


def test_server_paths_are_never_read_and_never_revealed(tmp_path):
    real = tmp_path / "real.png"
    real.write_bytes(_png())
    answers = set()
    for value in ("/etc/shadow", "/etc/hostname", str(real), str(tmp_path / "missing.png")):
        with pytest.raises(ValueError) as error:
            decode_image(value, LIMITS)
        answers.add(str(error.value))
    assert len(answers) == 1 and "reads no files" in answers.pop()


def test_an_image_folder_allows_relative_names_inside_it_only(tmp_path):
    (tmp_path / "inside").mkdir()
    (tmp_path / "inside" / "x.png").write_bytes(_png())
    (tmp_path / "outside.png").write_bytes(_png())
    limits = LIMITS.model_copy(update={"image_root": str(tmp_path / "inside")})
    assert decode_image("x.png", limits).size == (8, 6)
    outcomes = set()
    for value in ("../outside.png", str(tmp_path / "outside.png"), "missing.png", "..\\x.png"):
        with pytest.raises(ValueError) as error:
            decode_image(value, limits)
        outcomes.add(str(error.value))
    assert outcomes == {"no image of that name in the server's image folder"}


@pytest.mark.parametrize(
    ("side", "message"), [(12000, "12000x12000 pixels"), (20000, "more pixels")]
)
def test_pixels_are_checked_from_the_header_before_decoding(side, message):
    bomb = png_bomb(side)
    assert len(bomb) < 20_000
    started = time.perf_counter()
    with pytest.raises(ValueError, match=message):
        decode_image(_b64(bomb), ServingLimits())
    assert time.perf_counter() - started < 1.0


def test_image_bytes_are_checked_before_base64_decoding():
    limits = LIMITS.model_copy(update={"max_image_bytes": 1024})
    with pytest.raises(ValueError, match="exceeds the limit of 1024 bytes"):
        decode_image("A" * 10_000, limits)


def test_rows_report_every_problem_with_row_and_field():
    good = _b64(_png())
    with pytest.raises(RequestError) as refused:
        check_rows(
            [good, "/etc/passwd", good, good],
            ["fine", "fine", None, "x" * 51],
            ["<image>"],
            LIMITS,
        )
    assert [(p.row, p.field) for p in refused.value.problems] == [
        (1, "image"),
        (2, "question"),
        (3, "question"),
    ]
    assert refused.value.status == 400
    assert "row 3: field question: 51 characters exceeds the limit of 50" in str(refused.value)


def test_reserved_tokens_and_numbers_in_questions_are_refused():
    good = _b64(_png())
    with pytest.raises(RequestError) as refused:
        check_rows([good, good], ["What is <image> here?", 7], ["<image>"], LIMITS)
    messages = [p.message for p in refused.value.problems]
    assert messages == ["contains the reserved token '<image>'", "expected a non-empty text"]


def test_long_questions_can_be_cut_and_say_so():
    limits = LIMITS.model_copy(update={"question_overflow": "truncate"})
    [row] = check_rows([_b64(_png())], ["y" * 80], [], limits)
    assert row.question == "y" * 50 and row.notes == ["question cut to 50 characters"]


def test_request_limits_on_rows_and_total_pixels():
    good = _b64(_png(50, 50))
    with pytest.raises(RequestError) as too_many:
        check_rows([good] * 5, ["q"] * 5, [], LIMITS)
    assert too_many.value.status == 413
    limits = LIMITS.model_copy(update={"max_request_pixels": 50 * 50 * 2})
    with pytest.raises(RequestError, match="row 2: field image: the request's images exceed"):
        check_rows([good] * 3, ["q"] * 3, [], limits)


@pytest.mark.parametrize(
    "payload",
    [
        {"dataframe_split": {"columns": ["image", "question"], "data": [["i", "q"], ["j", "r"]]}},
        {"dataframe_split": {"columns": ["question", "image"], "data": [["q", "i"], ["r", "j"]]}},
        {"dataframe_records": [{"image": "i", "question": "q"}, {"image": "j", "question": "r"}]},
        {"inputs": {"image": ["i", "j"], "question": ["q", "r"]}},
        {"instances": [{"image": "i", "question": "q"}, {"image": "j", "question": "r"}]},
    ],
)
def test_request_bodies_in_mlflow_formats(payload):
    assert read_columns(payload, LIMITS) == (["i", "j"], ["q", "r"])


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ([], "expected one of"),
        ({"dataframe_split": {"columns": ["image"], "data": [["i"]]}}, "exactly the columns"),
        ({"dataframe_split": {"columns": ["image", "question"], "data": [["i"]]}}, "row 0"),
        ({"dataframe_records": [{"image": "i", "question": "q", "path": "/"}]}, "unknown column"),
        ({"inputs": {"image": ["i"], "question": ["q", "r"]}}, "differ in length"),
        ({"dataframe_records": []}, "no rows"),
        ({"dataframe_records": [{"image": "i", "question": "q"}] * 5}, "5 rows exceeds"),
    ],
)
def test_malformed_bodies_are_refused(payload, message):
    with pytest.raises(RequestError, match=message):
        read_columns(payload, LIMITS)
