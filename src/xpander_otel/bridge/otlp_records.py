"""OTLP protobuf spans -> ``SpanRecord``: the bridge's constructor of the exporter's neutral record.

Attribute values become what the SDK would hold (str, bool, int, float, tuples for arrays; dicts for
kvlists, bytes as bytes), so the assembler reads OTLP spans exactly like in-process ones. Spans whose ids
are not valid (16-byte trace id, 8-byte span id, both non-zero) are rejected and counted, as an OTLP
receiver reports them in ``partial_success``. Pure: no I/O.

Reading an attribute value out of protobuf is most of the cost of a span, so the bridge's pipeline
converts only ``ASSEMBLER_KEYS``, the attributes the assembler reads (``keep=ASSEMBLER_KEYS``).
"""

from __future__ import annotations

from collections.abc import Container, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from .. import semconv
from ..exporter.spans import SpanRecord, _error_message

_TRACE_ID_BYTES = 16
_SPAN_ID_BYTES = 8
# Span.flags bits 8 and 9: "the parent's is_remote is known" and "the parent is remote".
_REMOTE_PARENT = 0x100 | 0x200
_STATUS_ERROR = Status.STATUS_CODE_ERROR

# Every span attribute the assembler and its conventions read (exporter/assembler.py, conventions.py);
# tests/core/test_bridge_records.py checks that this list covers the names those modules use.
ASSEMBLER_KEYS = frozenset({
    semconv.OPERATION_NAME, semconv.AGENT_NAME, semconv.AGENT_ID, semconv.REQUEST_MODEL, semconv.RESPONSE_MODEL,
    semconv.RESPONSE_FINISH_REASONS, semconv.USAGE_INPUT_TOKENS, semconv.USAGE_OUTPUT_TOKENS,
    semconv.USAGE_CACHE_READ_INPUT_TOKENS, semconv.USAGE_CACHE_WRITE_INPUT_TOKENS, semconv.TOOL_NAME,
    semconv.INPUT_MESSAGES, semconv.OUTPUT_MESSAGES,
    semconv.XPANDER_AGENT_ID, semconv.XPANDER_TASK_ID, semconv.XPANDER_TASK_INPUT, semconv.XPANDER_TASK_RESULT,
    semconv.XPANDER_TASK_INCOMPLETE,
    semconv.OI_SPAN_KIND, semconv.OI_TOKEN_PROMPT, semconv.OI_TOKEN_COMPLETION, semconv.OI_TOKEN_CACHE_READ,
    semconv.OI_TOKEN_CACHE_WRITE, semconv.OI_MODEL_NAME, semconv.OI_TOOL_NAME, semconv.OI_INPUT_VALUE,
    semconv.OI_OUTPUT_VALUE,
    semconv.TRACELOOP_SPAN_KIND, semconv.TRACELOOP_ENTITY_NAME, semconv.TRACELOOP_ENTITY_INPUT,
    semconv.TRACELOOP_ENTITY_OUTPUT, semconv.LLM_REQUEST_TYPE, semconv.LEGACY_USAGE_PROMPT_TOKENS,
    semconv.LEGACY_USAGE_COMPLETION_TOKENS,
    semconv.PYDANTIC_AGGREGATED_INPUT_TOKENS, semconv.PYDANTIC_AGGREGATED_OUTPUT_TOKENS, semconv.PYDANTIC_AGENT_NAME,
    semconv.PYDANTIC_FINAL_RESULT,
    semconv.LOGFIRE_SPAN_TYPE,
    "error.type",
})


@dataclass
class Converted:
    """The records of one request, and how many of its spans were rejected (with one reason)."""

    records: list[SpanRecord] = field(default_factory=list)
    rejected: int = 0
    reason: str = ""


class _Event(NamedTuple):
    name: str
    attributes: Mapping[str, Any]


def records_from_request(request: ExportTraceServiceRequest, keep: Container[str] | None = None) -> Converted:
    """Every valid span of an export request as a ``SpanRecord``; with ``keep``, only those attributes."""
    out = Converted()
    records = out.records
    for resource_spans in request.resource_spans:
        resource = attributes_dict(resource_spans.resource.attributes, keep)
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                record = record_from_span(span, resource, keep)
                if type(record) is str:
                    out.rejected += 1
                    out.reason = out.reason or record
                else:
                    records.append(record)
    return out


def record_from_span(span: Span, resource: Mapping[str, Any], keep: Container[str] | None = None) -> SpanRecord | str:
    """One OTLP span as a record sharing ``resource`` with its siblings, or why its ids are invalid."""
    trace_id, span_id, parent_span_id = span.trace_id, span.span_id, span.parent_span_id
    if len(trace_id) != _TRACE_ID_BYTES or trace_id.count(0) == _TRACE_ID_BYTES:
        return f"trace_id must be {_TRACE_ID_BYTES} bytes and not all zero"
    if len(span_id) != _SPAN_ID_BYTES or span_id.count(0) == _SPAN_ID_BYTES:
        return f"span_id must be {_SPAN_ID_BYTES} bytes and not all zero"
    if parent_span_id and len(parent_span_id) != _SPAN_ID_BYTES:
        return f"parent_span_id must be empty or {_SPAN_ID_BYTES} bytes"
    status = span.status
    is_error = status.code == _STATUS_ERROR
    start_ns = span.start_time_unix_nano
    # Positional, as in ``SpanRecord.from_readable_span``: keywords cost a tenth of the conversion here.
    return SpanRecord(
        int.from_bytes(trace_id, "big"),                                    # trace_id
        int.from_bytes(span_id, "big"),                                     # span_id
        int.from_bytes(parent_span_id, "big") if parent_span_id else None,  # parent_id
        span.name,                                                          # name
        start_ns,                                                           # start_ns
        span.end_time_unix_nano or start_ns,                                # end_ns
        is_error,                                                           # is_error
        _error_message(status.message, _events(span.events)) if is_error else None,  # error_message
        attributes_dict(span.attributes, keep),                             # attributes
        resource,                                                           # resource
        bool(parent_span_id) and span.flags & _REMOTE_PARENT == _REMOTE_PARENT,  # parent_is_remote
    )


def attributes_dict(attributes: Iterable[KeyValue], keep: Container[str] | None = None) -> Mapping[str, Any]:
    """The attributes as a dict; with ``keep``, only those keys."""
    if keep is None:
        return {kv.key: any_value(kv.value) for kv in attributes}
    # An empty dict even when nothing is kept: the assembler reads a dict faster than an empty mapping proxy.
    return {key: any_value(kv.value) for kv in attributes if (key := kv.key) in keep}


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
