"""A small client for a served bundle (MLflow's scoring protocol): what the benchmark and the
tests send, and what a Python caller can use."""

from __future__ import annotations

import base64
import io
import json
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

JSON_TYPE = "application/json"


@dataclass(frozen=True)
class Reply:
    status: int  # 0: no HTTP answer (connection refused, reset or timed out)
    body: bytes
    seconds: float

    def json(self) -> dict:
        return json.loads(self.body)


def image_base64(image: Any) -> str:
    """A PIL image as the base64 PNG a request carries in its `image` column."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def dataframe_body(rows: Sequence[Sequence[object]]) -> bytes:
    """Rows of (image, question) as a `dataframe_split` request body."""
    split = {"columns": ["image", "question"], "data": [list(row) for row in rows]}
    return json.dumps({"dataframe_split": split}).encode()


def invoke(url: str, body: bytes, content_type: str = JSON_TYPE, timeout: float = 120) -> Reply:
    """POST `body` to `url`/invocations; HTTP errors come back as replies, not exceptions."""
    request = urllib.request.Request(
        f"{url}/invocations", data=body, headers={"Content-Type": content_type}
    )
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status, text = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, text = error.code, error.read()
    except OSError as error:
        status, text = 0, str(error).encode()
    return Reply(status, text, time.perf_counter() - started)
