"""A neutral, compact span record: what the assembler needs of a span, from any source.

One record type, several constructors: ``from_readable_span`` (the SDK, used by the exporter) here; the
bridge adds one for OTLP protobuf. The assembler only ever sees ``SpanRecord``. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from opentelemetry.trace import StatusCode

_EMPTY: Mapping[str, Any] = MappingProxyType({})
# Exception events carry the user's error text (the status description is often empty).
_EXCEPTION_EVENT = "exception"
_EXCEPTION_MESSAGE = "exception.message"
_EXCEPTION_TYPE = "exception.type"


@dataclass(frozen=True, slots=True)
class SpanRecord:
    """One finished span. Ids are ints (as in the SDK); ``parent_id`` is None for a trace root.

    ``parent_is_remote`` marks a local root under a remote parent (a request from another service), and
    ``agent_ancestor`` says whether an agent span was open above this one when it started, when the source
    knows it (None: unknown, the assembler waits for the parent chain).
    """

    trace_id: int
    span_id: int
    parent_id: int | None
    name: str
    start_ns: int
    end_ns: int
    is_error: bool = False
    error_message: str | None = None
    attributes: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)
    resource: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)
    parent_is_remote: bool = False
    agent_ancestor: bool | None = None

    @property
    def is_local_root(self) -> bool:
        return self.parent_id is None or self.parent_is_remote

    @classmethod
    def from_readable_span(cls, span: Any, agent_ancestor: bool | None = None) -> SpanRecord:
        """A record of an SDK ``ReadableSpan`` (the resource's attributes are shared, not copied)."""
        context = span.context
        parent = span.parent
        status = span.status
        is_error = status is not None and status.status_code is StatusCode.ERROR
        return cls(
            trace_id=context.trace_id,
            span_id=context.span_id,
            parent_id=parent.span_id if parent is not None else None,
            name=span.name,
            start_ns=span.start_time or 0,
            end_ns=span.end_time or span.start_time or 0,
            is_error=is_error,
            error_message=_error_message(status.description if status else None, span.events) if is_error
            else None,
            attributes=_plain_dict(span.attributes),
            resource=span.resource.attributes if span.resource is not None else _EMPTY,
            parent_is_remote=bool(parent is not None and parent.is_remote),
            agent_ancestor=agent_ancestor,
        )


def _plain_dict(attributes: Mapping[str, Any] | None) -> Mapping[str, Any]:
    """A plain dict of the SDK's attributes (its mapping locks on every read; ``copy()`` is one dict copy)."""
    if not attributes:
        return _EMPTY
    copied = attributes.copy() if hasattr(attributes, "copy") else attributes
    return copied if type(copied) is dict else dict(copied)


def _error_message(description: str | None, events: Iterable[Any]) -> str | None:
    """The status description, else the last exception event's ``type: message``."""
    if description:
        return description
    for event in reversed(tuple(events or ())):
        if event.name == _EXCEPTION_EVENT:
            attrs = event.attributes or {}
            message = attrs.get(_EXCEPTION_MESSAGE)
            kind = attrs.get(_EXCEPTION_TYPE)
            if kind and message:
                return f"{kind}: {message}"
            return str(message or kind or "") or None
    return None


def trace_id_hex(trace_id: int) -> str:
    return format(trace_id, "032x")


def span_id_hex(span_id: int) -> str:
    return format(span_id, "016x")
