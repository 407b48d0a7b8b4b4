"""The HTTP endpoint of a served bundle: MLflow's scoring protocol (POST /invocations, GET /ping,
/health, /version) in front of the bundle's pyfunc model, for untrusted clients. The body is
read up to its limit before it is parsed; errors are JSON (4xx naming the row and field, 503
when busy, 504 on timeout, 500 with no detail), never a stack trace or a server path."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable

import pandas as pd
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from components.registry.bundle_model import ServedBundle
from components.serving.inputs import RequestError
from components.serving.limits import ServingLimits
from components.serving.protocol import COLUMNS, read_columns
from components.serving.queue import QueueFull, QueueTimeout

log = logging.getLogger("mllmcl.serving")
JSON_TYPE = "application/json"

# A body over the limit is read and dropped, up to this many times the limit, before the refusal:
# a server that answers while the client is still sending closes on unread data, and the client
# sees a broken pipe or a reset instead of the 413. A larger body is refused without reading it.
DRAINED_BYTES_PER_LIMIT = 2


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error_code": code, "message": message}, status_code=status)


async def _read_body(request: Request, limit: int) -> bytes | JSONResponse:
    too_large = _error(413, "REQUEST_TOO_LARGE", f"the body exceeds the limit of {limit} bytes")
    declared = request.headers.get("content-length", "")
    chunks = request.stream()
    if declared.isdigit() and int(declared) > limit:
        await _discard(chunks, DRAINED_BYTES_PER_LIMIT * limit)
        return too_large
    body = bytearray()
    async for chunk in chunks:
        body += chunk
        if len(body) > limit:
            await _discard(chunks, DRAINED_BYTES_PER_LIMIT * limit - len(body))
            return too_large
    return bytes(body)


async def _discard(chunks: AsyncIterator[bytes], budget: int) -> None:
    """Read and drop the rest of the body, up to `budget` bytes."""
    async for chunk in chunks:
        budget -= len(chunk)
        if budget < 0:
            return


def create_app(
    served: ServedBundle,
    limits: ServingLimits,
    on_answers: Callable[[list[bool]], None] | None = None,
) -> FastAPI:
    """The app; `on_answers` sees each answered request's low-confidence flags."""
    bundle = served.model
    app = FastAPI(title="mllmcl bundle", docs_url=None, redoc_url=None, openapi_url=None)

    @app.get("/ping")
    @app.get("/health")
    async def ping() -> Response:
        return Response("\n", media_type=JSON_TYPE)

    @app.get("/version")
    async def version() -> Response:
        return Response(served.mlflow_version, media_type=JSON_TYPE)

    waiting = 0  # requests being read, checked or answered

    @app.post("/invocations")
    async def invocations(request: Request) -> Response:
        nonlocal waiting
        if waiting >= limits.max_queued_requests:
            return _error(503, "TEMPORARILY_UNAVAILABLE", "too many requests: try again shortly")
        waiting += 1
        try:
            return await _answer(request)
        finally:
            waiting -= 1

    async def _answer(request: Request) -> Response:
        if request.headers.get("content-type", "").split(";")[0].strip() != JSON_TYPE:
            return _error(415, "UNSUPPORTED_MEDIA_TYPE", f"send the rows as {JSON_TYPE}")
        body = await _read_body(request, limits.max_request_bytes)
        if isinstance(body, Response):
            return body
        try:
            payload = json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as error:
            return _error(400, "MALFORMED_REQUEST", f"the body is not valid JSON: {error}"[:300])
        try:
            images, questions = read_columns(payload, limits)
            frame = pd.DataFrame({COLUMNS[0]: images, COLUMNS[1]: questions}, dtype=object)
            answers = await asyncio.to_thread(bundle.predict, None, frame)  # off the loop
        except RequestError as error:
            return JSONResponse(error.as_dict(), status_code=error.status)
        except QueueFull as error:
            return _error(503, "TEMPORARILY_UNAVAILABLE", str(error))
        except QueueTimeout as error:
            return _error(504, "DEADLINE_EXCEEDED", str(error))
        except Exception:
            log.exception("the bundle failed on a request")
            return _error(500, "INTERNAL_ERROR", "the bundle failed on this request (see the log)")
        if on_answers is not None and "low_confidence" in answers:  # older versions lack it
            on_answers([bool(flag) for flag in answers["low_confidence"]])
        return JSONResponse({"predictions": answers.to_dict(orient="records")})

    return app


def run_server(
    served: ServedBundle,
    limits: ServingLimits,
    host: str,
    port: int,
    on_answers: Callable[[list[bool]], None] | None = None,
) -> None:
    """Serve until interrupted; one process, one model (the bundle queues its own work)."""
    import uvicorn

    app = create_app(served, limits, on_answers)
    uvicorn.run(app, host=host, port=port, log_level="info")
