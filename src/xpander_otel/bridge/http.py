"""OTLP/HTTP ``POST /v1/traces`` as Starlette routes, shared by the bridge and the dev server.

>>> from xpander_otel.bridge.receiver import IngestResult
>>> routes = create_otlp_routes(lambda request: IngestResult())
>>> [route.path for route in routes]
['/v1/traces']
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

from .decode import (
    JSON,
    PayloadError,
    PayloadTooLarge,
    decode_content,
    encode_message,
    error_status,
    export_response,
    media_type,
    parse_request,
)
from .limits import ReceiverLimits
from .receiver import Ingest, IngestResult, token_matches

TRACES_PATH = "/v1/traces"

# HTTP status -> the gRPC code OTLP puts in the google.rpc.Status body.
_GRPC_CODES = {400: 3, 401: 16, 413: 8, 415: 3, 503: 14}


def create_otlp_routes(
    ingest: Ingest, *, auth_token: str | None = None, limits: ReceiverLimits | None = None
) -> list[Route]:
    """The OTLP/HTTP traces route, answering like an OTLP receiver (200/400/401/413/415/503)."""
    limits = limits or ReceiverLimits()

    async def export_traces(request: Request) -> Response:
        if not token_matches(request.headers.get("authorization"), auth_token):
            return _error(401, "missing or wrong bearer token", JSON, {"WWW-Authenticate": "Bearer"})
        try:
            kind = media_type(request.headers.get("content-type"))
        except PayloadError as exc:
            return _error(exc.status, str(exc), JSON)
        encoding = request.headers.get("content-encoding")

        def decode_and_ingest(body: bytes) -> IngestResult | PayloadError:
            # Off the event loop: inflating and parsing a large body takes milliseconds of CPU.
            try:
                payload = decode_content(body, encoding, limits.max_decompressed_bytes)
                return ingest(parse_request(payload, kind))
            except PayloadError as exc:
                # Returned without its traceback: raised through the thread pool, the traceback's frames
                # (holding the body and what it inflated to) end in a reference cycle that lives until the
                # next full garbage collection.
                return exc.with_traceback(None)

        try:
            body = await _read_body(request, limits.max_body_bytes)
            result = await run_in_threadpool(decode_and_ingest, body)
        except PayloadError as exc:
            return _error(exc.status, str(exc), kind)
        except ClientDisconnect:
            return Response(status_code=400)
        if isinstance(result, PayloadError):
            return _error(result.status, str(result), kind)
        if not result.accepted:
            return _error(503, result.error_message, kind, {"Retry-After": str(limits.retry_after_seconds)})
        response = export_response(result.rejected_spans, result.error_message)
        return Response(encode_message(response, kind), media_type=kind)

    return [Route(TRACES_PATH, export_traces, methods=["POST"])]


async def _read_body(request: Request, limit: int) -> bytes:
    """The body, Content-Length or chunked, refused as soon as it passes ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"body of {declared} bytes is over the {limit}-byte limit")
    chunks = bytearray()
    async for chunk in request.stream():
        chunks += chunk
        if len(chunks) > limit:
            raise PayloadTooLarge(f"body is over the {limit}-byte limit")
    return bytes(chunks)


def _error(status: int, message: str, kind: str, headers: dict[str, str] | None = None) -> Response:
    body = encode_message(error_status(_GRPC_CODES.get(status, 2), message), kind)
    return Response(body, status_code=status, media_type=kind, headers=headers)
