"""Two bridge replicas behind trace-id routing (what the Collector's load_balancing exporter does): spans
of each trace split over several requests, sent out of order -> exactly one correct report per task."""

from __future__ import annotations

import grpc
import pytest
from _bridge_support import BridgeProcess, wait_for_reports
from _exporter_support import expected_weather_body, weather_run
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from xpander_otel.exporter.assembler import task_id_for
from xpander_otel.exporter.spans import trace_id_hex


@pytest.fixture
def replicas(recorder, tmp_path):
    processes = [BridgeProcess(recorder.url, tmp_path / f"spool-{i}.sqlite3", "--grace-seconds", "1.5")
                 for i in range(2)]
    try:
        yield [p.ready() for p in processes]
    finally:
        assert [p.stop() for p in processes] == [0, 0]


def traces_with_tasks() -> tuple[dict[int, list], list[dict]]:
    """Eight single-run traces and one trace with two top-level runs under a request span."""
    seen = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(seen))
    tracer = provider.get_tracer("replicas")
    for i in range(8):
        weather_run(tracer, question=f"run {i}")
    with tracer.start_as_current_span("POST /jobs"):
        weather_run(tracer, question="first of two")
        weather_run(tracer, question="second of two")
    provider.shutdown()
    by_trace: dict[int, list] = {}
    expected = []
    for span in seen.get_finished_spans():
        by_trace.setdefault(span.context.trace_id, []).append(span)
        if span.name == "invoke_agent weather":
            trace_id, span_id = span.context.trace_id, span.context.span_id
            expected.append(expected_weather_body(task_id_for(trace_id, span_id), trace_id_hex(trace_id),
                                                  (span.end_time - span.start_time) / 1e9,
                                                  question=span.attributes["xpander.task.input"]))
    return by_trace, expected


def out_of_order_chunks(spans: list) -> list[list]:
    """Agent roots first, then the other spans in two requests, last-ended first."""
    roots = [s for s in spans if s.name == "invoke_agent weather"]
    rest = [s for s in reversed(spans) if s not in roots]
    half = len(rest) // 2
    return [roots, rest[:half], rest[half:]]


def test_one_report_per_task_across_two_replicas(replicas, recorder):
    by_trace, expected = traces_with_tasks()
    channels = [grpc.insecure_channel(r.grpc) for r in replicas]
    stubs = [trace_service_pb2_grpc.TraceServiceStub(c) for c in channels]
    chunks = {trace_id: out_of_order_chunks(spans) for trace_id, spans in by_trace.items()}
    sent_to = [0, 0]
    try:
        for round_ in range(3):  # interleave: every trace's first request, then every second one, ...
            for trace_id, trace_chunks in chunks.items():
                replica = trace_id % len(stubs)
                stubs[replica].Export(encode_spans(trace_chunks[round_]), timeout=10)
                sent_to[replica] += len(trace_chunks[round_])
    finally:
        for channel in channels:
            channel.close()
    assert all(sent_to), "both replicas must get traces"
    got = wait_for_reports(recorder, len(expected), timeout=30, settle=2.5)
    bodies = sorted((r.json() for r in got), key=lambda b: b["id"])
    assert len(bodies) == len(expected) == 10
    assert bodies == sorted(expected, key=lambda b: b["id"])
    received = [r.metrics()["xpander_bridge_spans_received_total"] for r in replicas]
    assert received == sent_to
