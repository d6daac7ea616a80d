"""OTLP protobuf spans -> ``SpanRecord``: the bridge's constructor of the exporter's neutral record.

Attribute values become what the SDK would hold (str, bool, int, float, tuples for arrays; dicts for
kvlists, bytes as bytes), so the assembler reads OTLP spans exactly like in-process ones. Spans whose ids
are not valid (16-byte trace id, 8-byte span id, both non-zero) are rejected and counted, as an OTLP
receiver reports them in ``partial_success``. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from ..exporter.spans import SpanRecord, _error_message

_TRACE_ID_BYTES = 16
_SPAN_ID_BYTES = 8
# Span.flags bits 8 and 9: "the parent's is_remote is known" and "the parent is remote".
_REMOTE_PARENT = 0x100 | 0x200


@dataclass
class Converted:
    """The records of one request, and how many of its spans were rejected (with one reason)."""

    records: list[SpanRecord] = field(default_factory=list)
    rejected: int = 0
    reason: str = ""


class _Event(NamedTuple):
    name: str
    attributes: Mapping[str, Any]


def records_from_request(request: ExportTraceServiceRequest) -> Converted:
    """Every valid span of an export request as a ``SpanRecord``."""
    out = Converted()
    for resource_spans in request.resource_spans:
        resource = attributes_dict(resource_spans.resource.attributes)
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                record = record_from_span(span, resource)
                if isinstance(record, str):
                    out.rejected += 1
                    out.reason = out.reason or record
                else:
                    out.records.append(record)
    return out


def record_from_span(span: Span, resource: Mapping[str, Any]) -> SpanRecord | str:
    """One OTLP span as a record sharing ``resource`` with its siblings, or why its ids are invalid."""
    trace_id, span_id, parent_span_id = span.trace_id, span.span_id, span.parent_span_id
    if len(trace_id) != _TRACE_ID_BYTES or not any(trace_id):
        return f"trace_id must be {_TRACE_ID_BYTES} bytes and not all zero"
    if len(span_id) != _SPAN_ID_BYTES or not any(span_id):
        return f"span_id must be {_SPAN_ID_BYTES} bytes and not all zero"
    if parent_span_id and len(parent_span_id) != _SPAN_ID_BYTES:
        return f"parent_span_id must be empty or {_SPAN_ID_BYTES} bytes"
    status = span.status
    is_error = status.code == Status.STATUS_CODE_ERROR
    start_ns = span.start_time_unix_nano
    return SpanRecord(
        trace_id=int.from_bytes(trace_id, "big"),
        span_id=int.from_bytes(span_id, "big"),
        parent_id=int.from_bytes(parent_span_id, "big") if parent_span_id else None,
        name=span.name,
        start_ns=start_ns,
        end_ns=span.end_time_unix_nano or start_ns,
        is_error=is_error,
        error_message=_error_message(status.message, _events(span.events)) if is_error else None,
        attributes=attributes_dict(span.attributes),
        resource=resource,
        parent_is_remote=bool(parent_span_id) and span.flags & _REMOTE_PARENT == _REMOTE_PARENT,
    )


def attributes_dict(attributes: Iterable[KeyValue]) -> dict[str, Any]:
    return {kv.key: any_value(kv.value) for kv in attributes}


def any_value(value: AnyValue) -> Any:
    """The Python value of an OTLP ``AnyValue`` (None when unset)."""
    kind = value.WhichOneof("value")
    if kind == "string_value":  # by far the most common
        return value.string_value
    if kind is None:
        return None
    if kind == "array_value":
        return tuple(any_value(v) for v in value.array_value.values)
    if kind == "kvlist_value":
        return attributes_dict(value.kvlist_value.values)
    return getattr(value, kind)


def _events(events: Iterable[Span.Event]) -> list[_Event]:
    return [_Event(e.name, attributes_dict(e.attributes)) for e in events]
