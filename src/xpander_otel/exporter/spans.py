"""A neutral, compact span record: what the assembler needs of a span, from any source.

One record type, several constructors: ``from_readable_span`` (the SDK, used by the exporter) here; the
bridge adds one for OTLP protobuf. The assembler only ever sees ``SpanRecord``. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import StatusCode

_EMPTY: Mapping[str, Any] = MappingProxyType({})
_ERROR = StatusCode.ERROR  # read once: an enum member read through its class is slow
# Exception events carry the user's error text (the status description is often empty).
_EXCEPTION_EVENT = "exception"
_EXCEPTION_MESSAGE = "exception.message"
_EXCEPTION_TYPE = "exception.type"


@dataclass(slots=True)
class SpanRecord:
    """One finished span. Ids are ints (as in the SDK); ``parent_id`` is None for a trace root.

    Records are never changed once made (treat them as frozen). The dataclass is not ``frozen=True``
    because a frozen ``__init__`` sets each field through ``object.__setattr__``, which doubled the cost
    of making one; the exporter makes one per span.

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
    # ``conventions.kind`` keeps its reading of the span here: a cache, not part of the record's value.
    _kind: Any = field(default=None, init=False, repr=False, compare=False)

    @property
    def is_local_root(self) -> bool:
        return self.parent_id is None or self.parent_is_remote

    @classmethod
    def from_readable_span(cls, span: Any, agent_ancestor: bool | None = None) -> SpanRecord:
        """A record of an SDK ``ReadableSpan`` (the resource's attributes are shared, not copied)."""
        # This lookup and the attributes' below are inline: as calls they were a tenth of a conversion.
        reads_fields = _reads_fields_of.get(type(span))
        if not (reads_fields or (reads_fields is None and _reads_fields(type(span)))):
            return cls._from_properties(span, agent_ancestor)
        # The SDK's properties only return these fields, and a property call cost more than the rest; a
        # SpanContext is a tuple (trace_id, span_id, is_remote, ...) and is read by position for the same
        # reason.
        context, parent, status, resource = span._context, span._parent, span._status, span._resource
        start_ns = span._start_time or 0
        is_error = status is not None and status.status_code is _ERROR
        attributes = getattr(span._attributes, "_dict", None)  # shared: see span_attributes
        # Positional: with twelve fields, a keyword call cost as much as the rest of the conversion.
        return cls(
            context[0],                                          # trace_id
            context[1],                                          # span_id
            parent[1] if parent is not None else None,           # parent_id
            span._name,                                          # name
            start_ns,                                            # start_ns
            span._end_time or start_ns,                          # end_ns
            is_error,                                            # is_error
            _error_message(status.description, span._events) if is_error else None,  # error_message
            attributes if type(attributes) is dict else span_attributes(span),  # attributes
            resource.attributes if resource is not None else _EMPTY,  # resource
            parent is not None and parent[2],                    # parent_is_remote
            agent_ancestor,                                      # agent_ancestor
        )

    @classmethod
    def _from_properties(cls, span: Any, agent_ancestor: bool | None) -> SpanRecord:
        """``from_readable_span`` for a span class that overrides the SDK's properties."""
        context, parent, status, resource = span.context, span.parent, span.status, span.resource
        start_ns = span.start_time or 0
        is_error = status is not None and status.status_code is _ERROR
        return cls(context.trace_id, context.span_id, parent.span_id if parent is not None else None,
                   span.name, start_ns, span.end_time or start_ns, is_error,
                   _error_message(status.description, span.events) if is_error else None,
                   span_attributes(span), resource.attributes if resource is not None else _EMPTY,
                   parent is not None and parent.is_remote, agent_ancestor)


_READ_PROPERTIES = ("context", "parent", "status", "name", "start_time", "end_time", "events", "resource")
_reads_fields_of: dict[type, bool] = {}


def _reads_fields(span_type: type) -> bool:
    """Whether this span class keeps the SDK's plain properties (each returning its ``_field``); a class
    that overrides one is read through its properties."""
    known = _reads_fields_of.get(span_type)
    if known is None:
        known = _reads_fields_of[span_type] = issubclass(span_type, ReadableSpan) and all(
            getattr(span_type, name, None) is getattr(ReadableSpan, name) for name in _READ_PROPERTIES)
    return known


def span_attributes(span: Any) -> Mapping[str, Any]:
    """The attributes of an SDK span to read, shared rather than copied when the SDK allows it.

    ``span.attributes`` wraps the SDK's ``BoundedAttributes`` in a new proxy whose every read takes a lock
    (and a missing key raises inside), and copying it cost a third of a record. Once a span has ended the
    SDK changes its attributes no more (``set_attribute`` on an ended span is refused), so the dict inside
    can be shared as it is; on a span still open it is only read, never kept.
    """
    inner = getattr(getattr(span, "_attributes", None), "_dict", None)
    if type(inner) is dict:
        return inner  # empty too: a dict reads faster than the empty mapping proxy
    return _plain_dict(span.attributes)


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
