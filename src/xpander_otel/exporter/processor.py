"""``XpanderSpanProcessor``: the SDK's batch processor, sized for agent loops, that tells the exporter
what a plain batch processor keeps to itself:

- which traces lost a span because the queue was full (their reports are marked incomplete, never
  presented as complete with short token totals);
- whether an agent span was open above each span when it started, so a run nested under a long-lived
  span of the application is known to be a task root the moment it ends (reported within a second)
  instead of waiting for its parents.
"""

from __future__ import annotations

import threading

from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from . import conventions as conv
from .exporter import XpanderSpanExporter

# Open spans tracked for ancestry; beyond this (spans never ended) the table is reset.
_MAX_OPEN = 100_000


class XpanderSpanProcessor(BatchSpanProcessor):
    """A ``BatchSpanProcessor`` for ``XpanderSpanExporter``: short delay, large queue, loss and ancestry notes.

    >>> provider.add_span_processor(XpanderSpanProcessor(XpanderSpanExporter()))   # doctest: +SKIP
    """

    def __init__(
        self,
        exporter: XpanderSpanExporter,
        *,
        schedule_delay_millis: float = 200,
        max_queue_size: int = 65_536,
        max_export_batch_size: int = 512,
    ) -> None:
        super().__init__(exporter, max_queue_size=max_queue_size, schedule_delay_millis=schedule_delay_millis,
                         max_export_batch_size=max_export_batch_size)
        self._exporter = exporter
        # Open span id -> (an agent span was open above it: None if unknown, it is or is under an agent).
        self._open: dict[int, tuple[bool | None, bool]] = {}
        self._open_lock = threading.Lock()

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        context = span.get_span_context()
        parent = span.parent
        under_agent: bool | None = False
        with self._open_lock:
            if parent is not None and not parent.is_remote:
                above = self._open.get(parent.span_id)
                under_agent = above[1] if above is not None else None  # None: parent started before us
            if len(self._open) >= _MAX_OPEN:
                self._open.clear()
            agent_here = bool(under_agent) or conv.is_agent_attributes(span.name, span.attributes or {})
            self._open[context.span_id] = (under_agent, agent_here)

    def on_end(self, span: ReadableSpan) -> None:
        context = span.context
        with self._open_lock:
            opened = self._open.pop(context.span_id, None)
        if not (context and context.trace_flags.sampled):
            return
        under_agent = opened[0] if opened is not None else None
        if under_agent is not None:
            self._exporter.note_ancestry(context.span_id, under_agent)
        self._note_if_dropping()
        super().on_end(span)

    def shutdown(self, timeout_millis: int = 30_000) -> None:
        """Export what is queued, then shut the exporter down, within ``timeout_millis``."""
        self._batch_processor.shutdown(timeout_millis)

    def _note_if_dropping(self) -> None:
        # The SDK's queue drops its oldest span when full: tell the exporter which trace loses one.
        batch = getattr(self, "_batch_processor", None)
        queue = getattr(batch, "_queue", None)
        if queue is None or len(queue) < getattr(batch, "_max_queue_size", float("inf")):
            return
        try:
            oldest = queue[-1]
            trace_id = oldest.context.trace_id
        except (IndexError, AttributeError):
            trace_id = None
        self._exporter.note_lost_span(trace_id)

