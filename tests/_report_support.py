"""End to end for the framework tests: an instrumented run exported to the real dev server, and the
tasks it stored.

    with reporting(devserver, tmp_path, CrewAIInstrumentor) as run:
        with xpander_otel.task(agent_id=agent["id"]):
            crew.kickoff()
    [task] = run.tasks(agent["id"])
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from xpander_otel import Configuration
from xpander_otel.exporter import XpanderSpanExporter, XpanderSpanProcessor
from xpander_otel.exporter.assembler import task_id_for
from xpander_otel.instrumentation import _wrap


@dataclass
class ReportedRun:
    devserver: Any
    memory: InMemorySpanExporter

    def spans(self, name: str) -> list[ReadableSpan]:
        return [s for s in self.memory.get_finished_spans() if s.name == name]

    def tasks(self, agent_id: str) -> list[dict[str, Any]]:
        response = httpx.get(f"{self.devserver.url}/tasks", params={"agent_id": agent_id}, timeout=10)
        return response.json()["items"]


def expected_task_id(root: ReadableSpan) -> str:
    return task_id_for(root.context.trace_id, root.context.span_id)


@contextlib.contextmanager
def reporting(devserver: Any, tmp_path: Path, instrumentor_class: type) -> Iterator[ReportedRun]:
    """Instrument with a provider that exports to the dev server (and to memory); on exit uninstrument,
    flush every report out and shut the provider down."""
    exporter = XpanderSpanExporter(
        configuration=Configuration(base_url=devserver.url, api_key=None, organization_id=None, agent_id=None),
        spool_path=tmp_path / "spool.sqlite3",
        watch_global_provider=False,
    )
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    processor = XpanderSpanProcessor(exporter)
    provider.add_span_processor(processor)
    instrumentor = instrumentor_class()
    instrumentor.instrument(tracer_provider=provider)
    try:
        yield ReportedRun(devserver, memory)
    finally:
        instrumentor.uninstrument()
        _wrap.refresh_content_capture()
        assert processor.force_flush() and exporter.force_flush(10_000)
        provider.shutdown()
