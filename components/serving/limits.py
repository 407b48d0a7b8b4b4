"""Limits on what one request may ask of a served bundle. Every request is untrusted: each limit
is checked before the work it bounds is done (body size before parsing, image size from the
header before decoding, question length before tokenizing)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

MiB = 1024 * 1024


class ServingLimits(BaseSettings):
    """Read from `MLLMCL_SERVE__*` variables, so the served model (loaded by MLflow) sees the same
    values as `mllmcl serve`, which exports the resolved settings before it loads the model."""

    model_config = SettingsConfigDict(env_prefix="MLLMCL_SERVE__", extra="forbid", frozen=True)

    max_request_bytes: int = Field(32 * MiB, ge=1024, description="request body size")
    max_rows: int = Field(64, ge=1, description="rows per request")
    max_question_chars: int = Field(2000, ge=1, description="characters per question")
    question_overflow: Literal["reject", "truncate"] = Field(
        "reject", description="a longer question is refused, or cut (said in the row's notes)"
    )
    max_image_bytes: int = Field(8 * MiB, ge=1024, description="bytes per image, decoded")
    max_image_pixels: int = Field(4096 * 4096, ge=1, description="pixels per image")
    max_request_pixels: int = Field(
        3 * 4096 * 4096, ge=1, description="pixels over every image of one request"
    )
    image_root: str | None = Field(
        None,
        description="a folder whose images may be named by relative path; unset (the default): "
        "images come only as base64 or data URIs, and no server-side file is read",
    )
    max_batch_rows: int = Field(
        256, ge=1, description="rows of queued requests answered together in one model call"
    )
    max_queued_requests: int = Field(32, ge=1, description="waiting requests; more get 503")
    request_timeout_s: float = Field(
        120.0, gt=0, description="a request waits at most this long (queue and work): 503/504"
    )
    confidence_window: int = Field(
        200,
        ge=1,
        description="answers per point of the low-confidence share the server logs to MLflow",
    )
