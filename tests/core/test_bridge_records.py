"""OTLP spans -> SpanRecord: the same record the exporter builds from the SDK span it was encoded from."""

from __future__ import annotations

from _exporter_support import weather_run
from opentelemetry import context, trace
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

from xpander_otel.bridge.otlp_records import records_from_request
from xpander_otel.bridge.pipeline import ingest_records
from xpander_otel.exporter.spans import SpanRecord


def finished_spans(run) -> list:
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "agents", "deployment": "eu-1"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    run(provider.get_tracer("test"))
    provider.shutdown()
    return list(exporter.get_finished_spans())


def failing_run_under_a_remote_parent(tracer) -> None:
    remote = SpanContext(trace_id=0x5B8EFFF798038103D269B633813FC60C, span_id=0xEEE19B7EC3C1B173,
                         is_remote=True, trace_flags=TraceFlags(TraceFlags.SAMPLED))
    token = context.attach(trace.set_span_in_context(NonRecordingSpan(remote)))
    try:
        with tracer.start_as_current_span("invoke_agent weather", attributes={
                "gen_ai.operation.name": "invoke_agent", "tags": ["a", "b"], "ratio": 0.5, "ok": False}):
            try:
                with tracer.start_as_current_span("execute_tool get_weather"):
                    raise ValueError("no such city")
            except ValueError:
                pass
    finally:
        context.detach(token)


def test_records_equal_the_exporters_records_of_the_same_sdk_spans():
    spans = finished_spans(weather_run) + finished_spans(failing_run_under_a_remote_parent)
    converted = records_from_request(encode_spans(spans))
    expected = [SpanRecord.from_readable_span(s) for s in spans]
    assert converted.rejected == 0
    assert len(converted.records) == len(expected) == 6
    # The encoder groups spans by resource and scope; compare by span id.
    by_id = {r.span_id: r for r in converted.records}
    for want in expected:
        got = by_id[want.span_id]
        assert (got.trace_id, got.parent_id, got.name, got.start_ns, got.end_ns) == (
            want.trace_id, want.parent_id, want.name, want.start_ns, want.end_ns)
        assert (got.is_error, got.error_message, got.parent_is_remote) == (
            want.is_error, want.error_message, want.parent_is_remote)
        assert got.attributes == dict(want.attributes)
        assert got.resource == dict(want.resource)
    failed = [r for r in converted.records if r.is_error]
    assert [(r.name, r.error_message) for r in failed] == [("execute_tool get_weather", "ValueError: no such city")]
    agent = next(r for r in converted.records if r.attributes.get("tags"))
    assert agent.attributes["tags"] == ("a", "b") and agent.attributes["ratio"] == 0.5
    assert agent.parent_is_remote and agent.is_local_root


def test_spans_with_invalid_ids_are_rejected_and_counted():
    request = encode_spans(finished_spans(weather_run))
    spans = request.resource_spans[0].scope_spans[0].spans
    spans[0].trace_id = b"\x00" * 16
    spans[1].span_id = b"\x01" * 4
    spans[2].parent_span_id = b"\x01" * 3
    converted = records_from_request(request)
    assert (len(converted.records), converted.rejected) == (1, 3)
    assert converted.reason == "trace_id must be 16 bytes and not all zero"


def test_ingest_records_hands_records_to_a_sink_and_reports_rejections():
    received: list[list[SpanRecord]] = []
    request = encode_spans(finished_spans(weather_run))
    request.resource_spans[0].scope_spans[0].spans[0].span_id = b""
    result = ingest_records(received.append)(request)
    assert (result.accepted, result.rejected_spans) == (True, 1)
    assert result.error_message == "1 span(s) rejected: span_id must be 8 bytes and not all zero"
    assert len(received[0]) == 3
    assert ingest_records(lambda records: False)(request).accepted is False
