"""A tracer to put in front of a framework's own OpenTelemetry tracer (Strands, Google ADK).

Those frameworks emit GenAI spans themselves; we reuse them rather than duplicate them. ``NativeTracer``
sends their spans to the instrumentor's tracer provider (the user's, or the test's, not only the global
one), lets a patch adjust a span's kind and start attributes by name (``adjust``) and see it start
(``on_start``), and remembers the
spans it started until they end, so that the children a framework leaves open when a run is abandoned
can be ended with their parent (``end_open_descendants``).

>>> native = NativeTracer(provider.get_tracer("strands.telemetry.tracer"), adjust=client_kind_for_chat)  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import SpanKind

from . import _wrap

# (name, kind, attributes) -> (kind, attributes): what a patch changes at span start.
Adjust = Callable[[str, SpanKind, "Mapping[str, Any] | None"], "tuple[SpanKind, Mapping[str, Any] | None]"]

# (name, span) -> None: called once the span has started (to remember it, or set what needs the span).
OnStart = Callable[[str, trace.Span], None]

# Above this many remembered spans, ended ones are forgotten at the next start.
_PRUNE_AT = 512


class NativeTracer:
    """An OpenTelemetry ``Tracer`` that delegates to ``tracer``, adjusting spans by name."""

    def __init__(
        self,
        tracer: trace.Tracer,
        *,
        adjust: Adjust | None = None,
        on_start: OnStart | None = None,
        where: str = "native",
    ) -> None:
        self.tracer = tracer
        self._adjust = adjust
        self._on_start = on_start
        self._where = where
        self._open: dict[int, trace.Span] = {}
        self._lock = threading.Lock()

    def start_span(
        self,
        name: str,
        context: Any = None,
        kind: SpanKind = SpanKind.INTERNAL,
        attributes: Mapping[str, Any] | None = None,
        links: Any = None,
        start_time: int | None = None,
        record_exception: bool = True,
        set_status_on_exception: bool = True,
    ) -> trace.Span:
        if self._adjust is not None:
            # ``adjust`` returns a new mapping when it adds attributes: the caller's is never changed.
            adjusted = _wrap.guarded(f"{self._where}.adjust", self._adjust, name, kind, attributes)
            if adjusted is not None:
                kind, attributes = adjusted
        span = self.tracer.start_span(
            name, context, kind, attributes, links, start_time, record_exception, set_status_on_exception
        )
        _wrap.guarded(f"{self._where}.remember", self._remember, span)
        if self._on_start is not None:
            _wrap.guarded(f"{self._where}.on_start", self._on_start, name, span)
        return span

    @contextlib.contextmanager
    def start_as_current_span(
        self,
        name: str,
        context: Any = None,
        kind: SpanKind = SpanKind.INTERNAL,
        attributes: Mapping[str, Any] | None = None,
        links: Any = None,
        start_time: int | None = None,
        record_exception: bool = True,
        set_status_on_exception: bool = True,
        end_on_exit: bool = True,
    ) -> Iterator[trace.Span]:
        span = self.start_span(
            name, context, kind, attributes, links, start_time, record_exception, set_status_on_exception
        )
        with trace.use_span(
            span,
            end_on_exit=end_on_exit,
            record_exception=record_exception,
            set_status_on_exception=set_status_on_exception,
        ) as current:
            yield current

    def __getattr__(self, name: str) -> Any:
        # Anything else a framework asks of its tracer.
        return getattr(self.tracer, name)

    def _remember(self, span: trace.Span) -> None:
        span_id = span.get_span_context().span_id
        with self._lock:
            if len(self._open) >= _PRUNE_AT:
                self._forget_ended()
            self._open[span_id] = span

    def _forget_ended(self) -> None:
        for span_id in [i for i, s in self._open.items() if not s.is_recording()]:
            del self._open[span_id]

    def end_open_descendants(self, parent: trace.Span, attributes: Mapping[str, Any] | None = None) -> int:
        """End every span we started below ``parent`` that is still open; how many were ended.

        For frameworks that leave a run's inner spans open when the run is abandoned half-way.
        """
        root = parent.get_span_context().span_id
        with self._lock:
            spans = list(self._open.values())
            self._forget_ended()
        children: dict[int, list[trace.Span]] = {}
        for span in spans:
            span_parent = getattr(span, "parent", None)
            if span_parent is not None:
                children.setdefault(span_parent.span_id, []).append(span)
        ended = 0
        pending = list(children.get(root, ()))
        while pending:
            span = pending.pop()
            pending.extend(children.get(span.get_span_context().span_id, ()))
            if span.is_recording():
                if attributes:
                    span.set_attributes(dict(attributes))
                span.end()
                ended += 1
        with self._lock:
            self._forget_ended()
        return ended
