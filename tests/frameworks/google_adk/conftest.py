"""Until tests/frameworks/conftest.py's open-span tracker keys spans by span id (the SDK hands ``on_end`` a
new ReadableSpan object, so ``id(span)`` never matches): the same pipeline over a tracker that does."""

from __future__ import annotations

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter


class _SpanIdTracker(SpanProcessor):
    def __init__(self) -> None:
        import threading

        self._open: dict[int, object] = {}
        self._lock = threading.Lock()

    def on_start(self, span, parent_context=None) -> None:
        with self._lock:
            self._open[span.context.span_id] = span

    def on_end(self, span) -> None:
        with self._lock:
            self._open.pop(span.context.span_id, None)

    def open_names(self) -> list[str]:
        with self._lock:
            return sorted(s.name for s in self._open.values())

    def clear(self) -> None:
        with self._lock:
            self._open.clear()


@pytest.fixture(scope="session")
def _span_pipeline():
    exporter = InMemorySpanExporter()
    tracker = _SpanIdTracker()
    provider = TracerProvider()
    provider.add_span_processor(tracker)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    return provider, exporter, tracker
