"""OTLP spans -> SpanRecord: the same record the exporter builds from the SDK span it was encoded from."""

from __future__ import annotations

import re
from pathlib import Path

from _exporter_support import weather_run
from opentelemetry import context, trace
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

from xpander_otel import semconv
from xpander_otel.bridge.otlp_records import ASSEMBLER_KEYS, records_from_request
from xpander_otel.bridge.pipeline import ingest_records
from xpander_otel.exporter import assembler as assembler_module
from xpander_otel.exporter import conventions
from xpander_otel.exporter.assembler import Assembler, AssemblerSettings
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


def test_records_read_from_sdk_fields_equal_records_read_through_the_public_properties():
    spans = finished_spans(weather_run) + finished_spans(failing_run_under_a_remote_parent)
    fast = [SpanRecord.from_readable_span(s, agent_ancestor=True) for s in spans]
    public = [SpanRecord._from_properties(s, True) for s in spans]
    assert fast == public
    assert [(r.name, r.is_error, r.error_message, r.parent_is_remote) for r in fast[-2:]] == [
        ("execute_tool get_weather", True, "ValueError: no such city", False),
        ("invoke_agent weather", False, None, True)]


def test_a_span_class_overriding_a_property_is_read_through_it():
    class Renamed(ReadableSpan):
        @property
        def name(self) -> str:
            return "invoke_agent renamed"

    span = finished_spans(weather_run)[-1]
    copy = Renamed(name=span.name, context=span.context, parent=span.parent, resource=span.resource,
                   attributes=span.attributes, status=span.status, start_time=span.start_time,
                   end_time=span.end_time)
    record = SpanRecord.from_readable_span(copy)
    assert (record.name, record.span_id, record.trace_id) == (
        "invoke_agent renamed", span.context.span_id, span.context.trace_id)
    assert record.attributes == dict(span.attributes)


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


def other_conventions_run(tracer) -> None:
    """OpenInference and OpenLLMetry runs, a failing run, and attributes the assembler never reads."""
    noise = {"http.method": "POST", "server.address": "api.openai.com", "llm.input_messages.0.message.content": "hi"}
    with tracer.start_as_current_span("Agent.run", attributes={
            semconv.OI_SPAN_KIND: "AGENT", semconv.OI_INPUT_VALUE: "Weather?", semconv.OI_OUTPUT_VALUE: "Sunny.",
            **noise}):
        with tracer.start_as_current_span("ChatCompletion", attributes={
                semconv.OI_SPAN_KIND: "LLM", semconv.OI_TOKEN_PROMPT: 50, semconv.OI_TOKEN_COMPLETION: 10,
                semconv.OI_TOKEN_CACHE_READ: 7, semconv.OI_MODEL_NAME: "gpt-4o", **noise}):
            pass
        with tracer.start_as_current_span("get_weather", attributes={
                semconv.OI_SPAN_KIND: "TOOL", semconv.OI_TOOL_NAME: "get_weather", **noise}):
            pass
    workflow = {semconv.TRACELOOP_SPAN_KIND: "workflow", semconv.TRACELOOP_ENTITY_NAME: "weather",
                semconv.TRACELOOP_ENTITY_INPUT: '{"q": 1}', "traceloop.association.properties.user": "u"}
    call = {semconv.LLM_REQUEST_TYPE: "chat", semconv.LEGACY_USAGE_PROMPT_TOKENS: 5,
            semconv.LEGACY_USAGE_COMPLETION_TOKENS: 2, **noise}
    with tracer.start_as_current_span("weather.workflow", attributes=workflow), \
            tracer.start_as_current_span("openai.chat", attributes=call):
        pass
    weather_run(tracer, fail=True)


def reports(records: list[SpanRecord]) -> list[tuple]:
    assembler = Assembler(AssemblerSettings(default_agent_id="agent-1"))
    tasks = assembler.add(records, now=0.0) + assembler.flush()
    return [(task.agent_id, task.report.to_wire()) for task in tasks]


def test_keeping_only_the_assembler_keys_gives_the_same_reports():
    request = encode_spans(finished_spans(weather_run) + finished_spans(other_conventions_run))
    full = records_from_request(request)
    lean = records_from_request(request, keep=ASSEMBLER_KEYS)
    assert len(reports(full.records)) == 4
    assert reports(lean.records) == reports(full.records)
    assert all(set(r.attributes) <= ASSEMBLER_KEYS and not r.resource for r in lean.records)
    assert not any("http.method" in r.attributes for r in lean.records)
    assert [r.error_message for r in lean.records] == [r.error_message for r in full.records]


def attribute_names_read_by(module) -> set[str]:
    """The attribute names a module reads: its ``semconv.NAME`` constants and ``attributes.get("name")``."""
    source = Path(module.__file__).read_text()
    values = {getattr(semconv, name) for name in re.findall(r"semconv\.([A-Z_]+)", source)}
    return values | set(re.findall(r"attributes\.get\(\"([^\"]+)\"\)", source))


def test_assembler_keys_cover_every_attribute_the_assembler_reads():
    # Constants that are values or span names, not attribute names.
    not_keys = {semconv.OP_INVOKE_AGENT, semconv.OP_INVOKE_WORKFLOW, semconv.OP_CHAT, semconv.OP_TEXT_COMPLETION,
                semconv.OP_GENERATE_CONTENT, semconv.OP_EXECUTE_TOOL, semconv.OI_KIND_AGENT, semconv.OI_KIND_LLM,
                semconv.OI_KIND_TOOL, semconv.TRACELOOP_KIND_AGENT, semconv.TRACELOOP_KIND_WORKFLOW,
                semconv.TRACELOOP_KIND_TOOL, semconv.PYDANTIC_AGENT_RUN_SPAN, semconv.PYDANTIC_TOOL_SPAN,
                semconv.LOGFIRE_PENDING_SPAN}
    read = attribute_names_read_by(conventions) | attribute_names_read_by(assembler_module)
    assert "error.type" in read and semconv.OI_TOKEN_CACHE_WRITE in read
    assert sorted(read - not_keys - ASSEMBLER_KEYS) == []
