"""Span processors that tell ``XpanderSpanExporter`` what a plain batch processor keeps to itself:

- whether an agent span was open above each span when it started, so a run nested under a long-lived
  span of the application is known to be a task root the moment it ends (no waiting for its parents);
- which traces lost a span because the queue was full (their reports are marked incomplete, never
  presented as complete with short token totals).

``XpanderSpanProcessor`` is the batch processor ``configure()`` installs. ``RunEndWatcher`` is what the
exporter adds by itself when another component (``opentelemetry-instrument``) wraps it in the SDK's
default batch processor: it asks for an early export when a task root ends, so the report is spooled
within a second instead of after the processor's 5 s schedule.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from . import conventions as conv
from .spans import span_attributes

if TYPE_CHECKING:
    from .exporter import XpanderSpanExporter

# Open spans tracked for ancestry; beyond this (spans never ended) the table is reset.
_MAX_OPEN = 100_000


class AncestryTracker:
    """Per open span: was an agent span open above it when it started (None: its parent predates us).

    No lock: this runs on the application's threads at every span start and end, and each step is one dict
    operation (get, set, pop, clear), atomic on its own. A parent is entered before its children start.
    """

    def __init__(self) -> None:
        self._open: dict[int, tuple[bool | None, bool]] = {}  # span id -> (agent above, agent here or above)

    def started(self, span: Span) -> None:
        parent = span.parent
        under_agent: bool | None = False
        if parent is not None and not parent.is_remote:
            above = self._open.get(parent.span_id)
            under_agent = above[1] if above is not None else None
        if len(self._open) >= _MAX_OPEN:
            self._open.clear()
        agent_here = bool(under_agent) or conv.is_agent_attributes(span.name, span_attributes(span))
        self._open[span.context.span_id] = (under_agent, agent_here)

    def ended(self, span: ReadableSpan) -> bool | None:
        """Whether an agent span was open above this span when it started (None: not seen starting)."""
        opened = self._open.pop(span.context.span_id, None)
        return opened[0] if opened is not None else None


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
        self._ancestry = AncestryTracker()
        # The SDK's queue, a deque that drops its oldest span when full; made once and never replaced. A
        # release without it (private API) only loses the loss notes.
        queue = getattr(getattr(self, "_batch_processor", None), "_queue", None)
        self._sdk_queue = queue if getattr(queue, "maxlen", None) else None
        exporter._own_processor = self  # its early exports flush this processor

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        self._ancestry.started(span)

    def on_end(self, span: ReadableSpan) -> None:
        under_agent = self._ancestry.ended(span)
        context = span.context
        if not (context and context.trace_flags.sampled):
            return
        if under_agent is not None:
            self._exporter.note_ancestry(context.span_id, under_agent)
        self._note_if_dropping()
        super().on_end(span)
        if under_agent is False and conv.is_agent_attributes(span.name, span_attributes(span)):
            # A task root ended: a delivery thread flushes within milliseconds, so the report is not held
            # for the batch schedule (never on this, the application's, thread).
            self._exporter.export_soon(context.span_id)

    def shutdown(self, timeout_millis: int = 30_000) -> None:
        """Export what is queued, then shut the exporter down, within ``timeout_millis``."""
        self._batch_processor.shutdown(timeout_millis)

    def _note_if_dropping(self) -> None:
        # The SDK's queue drops its oldest span when full: tell the exporter which trace loses one.
        queue = self._sdk_queue
        if queue is None or len(queue) < queue.maxlen:
            return
        try:
            trace_id = queue[-1].context.trace_id
        except (IndexError, AttributeError):
            trace_id = None
        self._exporter.note_lost_span(trace_id)


class RunEndWatcher(SpanProcessor):
    """Added beside the batch processor that wraps the exporter: ancestry notes, and an early export
    when a task root ends."""

    def __init__(self, exporter: XpanderSpanExporter) -> None:
        self._exporter = exporter
        self._ancestry = AncestryTracker()

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        self._ancestry.started(span)

    def on_end(self, span: ReadableSpan) -> None:
        under_agent = self._ancestry.ended(span)
        if under_agent is None or not span.context.trace_flags.sampled:
            return
        self._exporter.note_ancestry(span.context.span_id, under_agent)
        if not under_agent and conv.is_agent_attributes(span.name, span_attributes(span)):
            self._exporter.export_soon(span.context.span_id)
