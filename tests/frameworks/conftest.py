"""Fixtures shared by the framework tests: an in-memory span exporter, an instrumentor fixture, and a
span-tree assertion that also proves no span was left open.

    def test_sync_run(spans, instrument, llm):
        instrument(AgnoInstrumentor)
        agent.run("weather?")
        spans.assert_tree('''
            invoke_agent weather INTERNAL
              chat scripted CLIENT
              execute_tool get_weather INTERNAL
              chat scripted CLIENT
        ''')
"""

from __future__ import annotations

import gc
import logging
import textwrap
import threading
from collections.abc import Callable, Iterator

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from xpander_otel.instrumentation import _wrap


class OpenSpanTracker(SpanProcessor):
    """Remembers every started span until it ends: what is left is a span we forgot to end."""

    def __init__(self) -> None:
        self._open: dict[int, Span] = {}
        self._lock = threading.Lock()

    def on_start(self, span: Span, parent_context=None) -> None:
        with self._lock:
            self._open[span.context.span_id] = span

    def on_end(self, span: ReadableSpan) -> None:
        with self._lock:
            self._open.pop(span.context.span_id, None)

    def open_names(self) -> list[str]:
        with self._lock:
            return sorted(s.name for s in self._open.values())

    def clear(self) -> None:
        with self._lock:
            self._open.clear()


class Spans:
    """The spans of one test: finished ones from the in-memory exporter, and a check for open ones."""

    def __init__(self, exporter: InMemorySpanExporter, tracker: OpenSpanTracker) -> None:
        self.exporter = exporter
        self.tracker = tracker

    def finished(self) -> list[ReadableSpan]:
        return list(self.exporter.get_finished_spans())

    def named(self, name: str) -> list[ReadableSpan]:
        return [s for s in self.finished() if s.name == name]

    def one(self, name: str) -> ReadableSpan:
        found = self.named(name)
        assert len(found) == 1, f"expected one span {name!r}, got {len(found)}: {self.tree()}"
        return found[0]

    def by_prefix(self, prefix: str) -> list[ReadableSpan]:
        return [s for s in self.finished() if s.name.startswith(prefix)]

    def assert_all_ended(self) -> None:
        """No span is left open (after collecting abandoned streams)."""
        gc.collect()
        assert self.tracker.open_names() == [], "spans left open"

    def tree(self, *, sort_roots: bool = False) -> str:
        """The finished spans as an indented tree, ``name KIND`` per line, children by start time."""
        spans = self.finished()
        ids = {s.context.span_id for s in spans}
        children: dict[int | None, list[ReadableSpan]] = {}
        for s in spans:
            parent = s.parent.span_id if s.parent is not None and s.parent.span_id in ids else None
            children.setdefault(parent, []).append(s)

        def render(span: ReadableSpan, depth: int) -> list[str]:
            lines = [f"{'  ' * depth}{span.name} {span.kind.name}"]
            for child in sorted(children.get(span.context.span_id, []), key=lambda c: c.start_time):
                lines.extend(render(child, depth + 1))
            return lines

        roots = ["\n".join(render(r, 0)) for r in sorted(children.get(None, []), key=lambda c: c.start_time)]
        return "\n".join(sorted(roots) if sort_roots else roots)

    def assert_tree(self, expected: str, *, sort_roots: bool = False) -> None:
        """The exact span tree (names, kinds, parents) and no span left open.

        ``sort_roots`` compares top-level trees as a sorted list (runs in threads start in any order).
        """
        self.assert_all_ended()
        want = textwrap.dedent(expected).strip("\n")
        if sort_roots:
            want = "\n".join(sorted(_split_roots(want)))
        assert self.tree(sort_roots=sort_roots) == want

    def clear(self) -> None:
        self.exporter.clear()
        self.tracker.clear()


def _split_roots(tree: str) -> list[str]:
    roots: list[list[str]] = []
    for line in tree.splitlines():
        if not line.startswith(" "):
            roots.append([])
        roots[-1].append(line)
    return ["\n".join(r) for r in roots]


@pytest.fixture(scope="session")
def _span_pipeline() -> tuple[TracerProvider, InMemorySpanExporter, OpenSpanTracker]:
    exporter = InMemorySpanExporter()
    tracker = OpenSpanTracker()
    provider = TracerProvider()
    provider.add_span_processor(tracker)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    # Global too, for frameworks that emit their own spans through the global provider (set once).
    trace.set_tracer_provider(provider)
    return provider, exporter, tracker


@pytest.fixture
def tracer_provider(_span_pipeline) -> TracerProvider:
    return _span_pipeline[0]


@pytest.fixture
def spans(_span_pipeline) -> Iterator[Spans]:
    """The spans finished during this test (``.tree()``, ``.assert_tree(...)``, ``.one(name)``)."""
    _, exporter, tracker = _span_pipeline
    gc.collect()
    recorded = Spans(exporter, tracker)
    recorded.clear()
    yield recorded
    gc.collect()
    recorded.clear()


@pytest.fixture
def instrument(tracer_provider) -> Iterator[Callable[..., object]]:
    """``instrument(InstrumentorClass, **kwargs)``: instrumented with the test provider, uninstrumented after."""
    used: list[object] = []
    _wrap.reset_log_once()

    def _instrument(cls: type, **kwargs: object) -> object:
        instrumentor = cls()
        instrumentor.instrument(tracer_provider=tracer_provider, **kwargs)
        used.append(instrumentor)
        return instrumentor

    yield _instrument
    for instrumentor in used:
        if instrumentor.is_instrumented_by_opentelemetry:
            instrumentor.uninstrument()
    _wrap.reset_log_once()
    _wrap.refresh_content_capture()


@pytest.fixture
def instrumentation_failures(caplog) -> Callable[[], list[str]]:
    """The "instrumentation failed" warnings logged during the test (each place should appear once)."""
    caplog.set_level(logging.WARNING, logger=_wrap.__name__)

    def failures() -> list[str]:
        return [r.getMessage() for r in caplog.records if r.name == _wrap.__name__]

    return failures
