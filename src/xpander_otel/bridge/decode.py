"""OTLP/HTTP bodies to ``ExportTraceServiceRequest`` and responses back, with the official
``opentelemetry-proto`` classes: protobuf, the OTLP JSON mapping, and gzip with a cap on what it inflates to.

Every failure is one of three exceptions that name an HTTP status: bad payload (400), too large (413),
unsupported media (415).
"""

from __future__ import annotations

import base64
import json
import zlib
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import DecodeError, Message
from google.rpc import status_pb2
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
_PROTOBUF_TYPES = {PROTOBUF, "application/protobuf"}
_GZIP_WBITS = 16 + zlib.MAX_WBITS


class PayloadError(Exception):
    """A request the receiver refuses; ``status`` is the HTTP status that says why."""

    status = 400


class BadPayload(PayloadError):
    status = 400


class PayloadTooLarge(PayloadError):
    status = 413


class UnsupportedMedia(PayloadError):
    status = 415


def media_type(content_type: str | None) -> str:
    """``PROTOBUF`` or ``JSON`` for a Content-Type header (parameters such as charset ignored)."""
    kind = (content_type or "").split(";", 1)[0].strip().lower()
    if kind in _PROTOBUF_TYPES:
        return PROTOBUF
    if kind == JSON:
        return JSON
    raise UnsupportedMedia(f"unsupported content type {kind or '(none)'!r}: send {PROTOBUF} or {JSON}")


def decode_content(body: bytes, content_encoding: str | None, max_decompressed: int) -> bytes:
    """The body with its Content-Encoding (identity or gzip) undone."""
    encoding = (content_encoding or "identity").strip().lower()
    if encoding in ("", "identity"):
        return body
    if encoding == "gzip":
        return gunzip_capped(body, max_decompressed)
    raise UnsupportedMedia(f"unsupported content encoding {encoding!r}: send gzip or identity")


def gunzip_capped(data: bytes, limit: int) -> bytes:
    """Inflate gzip (one member or several) without ever holding more than ``limit + 1`` bytes."""
    out = bytearray()
    if not data:
        raise BadPayload("empty gzip body")
    while data:
        inflater = zlib.decompressobj(wbits=_GZIP_WBITS)
        try:
            out += inflater.decompress(data, limit + 1 - len(out))
        except zlib.error as exc:
            raise BadPayload(f"invalid gzip body: {exc}") from None
        if len(out) > limit:
            raise PayloadTooLarge(f"gzip body inflates beyond {limit} bytes")
        if not inflater.eof:
            raise BadPayload("truncated gzip body")
        data = inflater.unused_data
    return bytes(out)


def parse_request(payload: bytes, kind: str) -> ExportTraceServiceRequest:
    """An ``ExportTraceServiceRequest`` from a protobuf or OTLP-JSON payload."""
    request = ExportTraceServiceRequest()
    if kind == PROTOBUF:
        try:
            request.ParseFromString(payload)
        except (DecodeError, RecursionError, ValueError) as exc:
            raise BadPayload(f"invalid protobuf: {exc}") from None
        return request
    try:
        document = json.loads(payload)
    except (ValueError, RecursionError) as exc:
        raise BadPayload(f"invalid JSON: {exc}") from None
    if not isinstance(document, dict):
        raise BadPayload("invalid OTLP JSON: the body must be an object")
    try:
        json_format.ParseDict(_hex_ids_to_base64(document), request, ignore_unknown_fields=True)
    except (json_format.ParseError, RecursionError, TypeError, ValueError, AttributeError) as exc:
        raise BadPayload(f"invalid OTLP JSON: {exc}") from None
    return request


def encode_message(message: Message, kind: str) -> bytes:
    """A response message in the request's encoding (proto3 JSON mapping for JSON)."""
    if kind == JSON:
        return json_format.MessageToJson(message, indent=None).encode()
    return message.SerializeToString()


def export_response(rejected_spans: int = 0, error_message: str = "") -> ExportTraceServiceResponse:
    response = ExportTraceServiceResponse()
    if rejected_spans or error_message:
        response.partial_success.rejected_spans = rejected_spans
        response.partial_success.error_message = error_message
    return response


def error_status(code: int, message: str) -> status_pb2.Status:
    """The ``google.rpc.Status`` body OTLP/HTTP uses for errors (``code`` is the gRPC code)."""
    return status_pb2.Status(code=code, message=message)


# OTLP JSON writes trace and span ids as hex, where the proto3 JSON mapping expects base64.
_ID_FIELDS = ("traceId", "spanId", "parentSpanId", "trace_id", "span_id", "parent_span_id")


def _hex_ids_to_base64(document: dict[str, Any]) -> dict[str, Any]:
    for resource_spans in _items(document, "resourceSpans", "resource_spans"):
        for scope_spans in _items(resource_spans, "scopeSpans", "scope_spans"):
            for span in _items(scope_spans, "spans"):
                _convert_ids(span)
                for link in _items(span, "links"):
                    _convert_ids(link)
    return document


def _items(parent: Any, *keys: str) -> list[Any]:
    if not isinstance(parent, dict):
        return []
    for key in keys:
        value = parent.get(key)
        if isinstance(value, list):
            return value
    return []


def _convert_ids(obj: Any) -> None:
    if not isinstance(obj, dict):
        return
    for key in _ID_FIELDS:
        value = obj.get(key)
        if isinstance(value, str):
            try:
                obj[key] = base64.b64encode(bytes.fromhex(value)).decode()
            except ValueError:
                raise BadPayload(f"invalid OTLP JSON: {key} {value[:40]!r} is not hex") from None
