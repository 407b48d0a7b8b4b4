"""Checking the rows of an untrusted request and turning them into model samples. Every problem
names its row and field; a server-side path is read only under a configured image folder, and
nothing in a message tells whether a file exists elsewhere."""

from __future__ import annotations

import base64
import binascii
import io
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from PIL import Image, UnidentifiedImageError

from components.serving.limits import ServingLimits

IMAGE_FORMATS = ("PNG", "JPEG", "WEBP", "BMP", "GIF")  # what Pillow may parse from a request
_BASE64 = re.compile(r"[A-Za-z0-9+/\s]*={0,2}\s*")
_DATA_URI = re.compile(r"data:image/[\w.+-]+;base64,", re.IGNORECASE)
MAX_REPORTED = 20  # problems listed in one error


@dataclass(frozen=True)
class FieldProblem:
    row: int
    field: str
    message: str

    def __str__(self) -> str:
        return f"row {self.row}: field {self.field}: {self.message}"


class RequestError(ValueError):
    """The request is refused; nothing was computed."""

    def __init__(self, problems: Sequence[FieldProblem], status: int = 400) -> None:
        self.problems = list(problems)
        self.status = status
        shown = "; ".join(str(p) for p in self.problems[:MAX_REPORTED])
        more = len(self.problems) - MAX_REPORTED
        super().__init__(shown + (f"; and {more} more" if more > 0 else ""))

    def as_dict(self) -> dict:
        return {
            "error_code": "INVALID_PARAMETER_VALUE",
            "message": str(self),
            "errors": [p.__dict__ for p in self.problems[:MAX_REPORTED]],
        }


@dataclass
class Row:
    image: Image.Image
    question: str
    notes: list[str] = field(default_factory=list)


def _max_base64_chars(max_bytes: int) -> int:
    return 4 * -(-max_bytes // 3) + 4  # encoded size of max_bytes, and a little for white space


def _open_checked(raw: io.BytesIO | Path, limits: ServingLimits) -> Image.Image:
    """Decode an image whose pixel count, read from its header, is within the limit."""
    with warnings.catch_warnings():  # Pillow's own, looser bomb warning: ours is the limit
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        picture = Image.open(raw, formats=IMAGE_FORMATS)
    with picture:
        width, height = picture.size
        if width * height > limits.max_image_pixels:
            raise ValueError(
                f"{width}x{height} pixels exceeds the limit of {limits.max_image_pixels}"
            )
        return picture.convert("RGB")


def _from_base64(text: str, limits: ServingLimits) -> Image.Image:
    if len(text) > _max_base64_chars(limits.max_image_bytes):
        raise ValueError(f"the image exceeds the limit of {limits.max_image_bytes} bytes")
    try:
        raw = base64.b64decode(text, validate=False)
    except (binascii.Error, ValueError):
        raise ValueError("not valid base64 image data") from None
    return _open_checked(io.BytesIO(raw), limits)


def _from_path(text: str, limits: ServingLimits) -> Image.Image:
    """A relative path under the image folder; any other path reads as not found."""
    assert limits.image_root is not None
    root = Path(limits.image_root).resolve()
    pure = PurePosixPath(text)
    missing = ValueError("no image of that name in the server's image folder")
    if pure.is_absolute() or ".." in pure.parts or "\\" in text or ":" in text:
        raise missing
    path = (root / pure).resolve()
    if not path.is_relative_to(root) or not path.is_file():
        raise missing
    if path.stat().st_size > limits.max_image_bytes:
        raise ValueError(f"the image exceeds the limit of {limits.max_image_bytes} bytes")
    return _open_checked(path, limits)


def decode_image(value: object, limits: ServingLimits) -> Image.Image:
    """Base64 image bytes, or a data URI; a relative path only when an image folder is set."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError("expected an image as base64 or a data URI")
    text = value.strip()
    try:
        if text[:5].lower() == "data:":
            match = _DATA_URI.match(text)
            if match is None:
                raise ValueError("a data URI must read data:image/<type>;base64,<data>")
            return _from_base64(text[match.end() :], limits)
        if _BASE64.fullmatch(text) and len(text) >= 16:
            return _from_base64(text, limits)
        if limits.image_root is not None:
            return _from_path(text, limits)
    except Image.DecompressionBombError:
        raise ValueError(f"more pixels than the limit of {limits.max_image_pixels}") from None
    except UnidentifiedImageError:
        accepted = ", ".join(IMAGE_FORMATS)
        raise ValueError(f"not an image in an accepted format: {accepted}") from None
    except OSError:
        raise ValueError("the image data is truncated or corrupt") from None
    raise ValueError("expected an image as base64 or a data URI (this server reads no files)")


def check_question(
    value: object, reserved: Sequence[str], limits: ServingLimits
) -> tuple[str, list[str]]:
    """The question text (cut, with a note, when the limit says so)."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError("expected a non-empty text")
    found = next((token for token in reserved if token and token in value), None)
    if found is not None:
        raise ValueError(f"contains the reserved token {found!r}")
    if len(value) <= limits.max_question_chars:
        return value, []
    if limits.question_overflow == "reject":
        raise ValueError(
            f"{len(value)} characters exceeds the limit of {limits.max_question_chars}"
        )
    return value[: limits.max_question_chars], [
        f"question cut to {limits.max_question_chars} characters"
    ]


def check_rows(
    images: Sequence[object],
    questions: Sequence[object],
    reserved: Sequence[str],
    limits: ServingLimits,
) -> list[Row]:
    """Every row checked (all problems reported at once), images decoded within the limits."""
    if len(images) > limits.max_rows:
        message = f"{len(images)} rows exceeds the limit of {limits.max_rows}"
        raise RequestError([FieldProblem(limits.max_rows, "*", message)], status=413)
    rows: list[Row] = []
    problems: list[FieldProblem] = []
    pixels = 0
    for index, (image, question) in enumerate(zip(images, questions, strict=True)):
        try:
            text, notes = check_question(question, reserved, limits)
        except ValueError as error:
            problems.append(FieldProblem(index, "question", str(error)))
        try:
            decoded = decode_image(image, limits)
        except ValueError as error:
            problems.append(FieldProblem(index, "image", str(error)))
            continue
        pixels += decoded.width * decoded.height
        if pixels > limits.max_request_pixels:
            message = f"the request's images exceed {limits.max_request_pixels} pixels together"
            problems.append(FieldProblem(index, "image", message))
            break
        if not problems:
            rows.append(Row(decoded, text, notes))
    if problems:
        raise RequestError(problems)
    return rows
