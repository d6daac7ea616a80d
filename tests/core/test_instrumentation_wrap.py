"""The shared instrumentation machinery on plain functions and generators (no framework needed)."""

from __future__ import annotations

import asyncio
import gc
import logging
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from pydantic import SecretStr

from xpander_otel import llm_keys, semconv
from xpander_otel.instrumentation import _wrap


@pytest.fixture
def exporter():
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    exporter.tracer = _wrap.get_tracer("test", provider)
    _wrap.reset_log_once()
    yield exporter
    _wrap.reset_log_once()
    _wrap.refresh_content_capture()


def _agent(exporter, name="a"):
    return _wrap.start(exporter.tracer, _wrap.AgentInvocation(name=name, provider="openai"), where="test.agent")


def _chat(exporter, usage=(50, 10)):
    invocation = _wrap.ChatInvocation(request_model="m", usage=_wrap.Usage(*usage))
    return _wrap.start(exporter.tracer, invocation, where="test.chat")


def test_sync_call_nests_spans_and_aggregates_usage(exporter):
    def run():
        _wrap.call(_chat(exporter), lambda: "c1", (), {})
        _wrap.call(_chat(exporter, (80, 12)), lambda: "c2", (), {})
        return "done"

    assert _wrap.call(_agent(exporter), run, (), {}) == "done"
    chat1, chat2, agent = exporter.get_finished_spans()
    assert [s.name for s in (chat1, chat2, agent)] == ["chat m", "chat m", "invoke_agent a"]
    assert chat1.kind == SpanKind.CLIENT and agent.kind == SpanKind.INTERNAL
    assert chat1.parent.span_id == agent.context.span_id == chat2.parent.span_id
    assert agent.attributes[semconv.USAGE_INPUT_TOKENS] == 130
    assert agent.attributes[semconv.USAGE_OUTPUT_TOKENS] == 22


def test_error_is_recorded_and_reraised_unchanged(exporter):
    error = ValueError("boom")

    def fail():
        raise error

    with pytest.raises(ValueError) as raised:
        _wrap.call(_agent(exporter), fail, (), {})
    assert raised.value is error
    (span,) = exporter.get_finished_spans()
    assert span.status.status_code == StatusCode.ERROR
    assert span.attributes["error.type"] == "ValueError"
    assert span.events[0].attributes["exception.message"] == "boom"


def test_stream_ends_once_on_exhaustion_and_yields_same_items(exporter):
    seen = []
    stream = _wrap.call(_agent(exporter), lambda: iter([1, 2, 3]), (), {},
                        on_chunk=lambda inv, chunk: seen.append(chunk))
    assert list(stream) == [1, 2, 3]
    assert seen == [1, 2, 3]
    stream.close()
    assert len(exporter.get_finished_spans()) == 1


def test_stream_abandoned_after_break_ends_on_collection(exporter):
    def gen():
        yield from range(10)

    stream = _wrap.call(_agent(exporter), gen, (), {})
    for item in stream:
        if item == 3:
            break
    assert exporter.get_finished_spans() == ()
    del stream
    gc.collect()
    assert len(exporter.get_finished_spans()) == 1


def test_stream_close_ends_span_and_closes_generator(exporter):
    closed = []

    def gen():
        try:
            yield 1
            yield 2
        finally:
            closed.append(True)

    stream = _wrap.call(_agent(exporter), gen, (), {})
    assert next(stream) == 1
    stream.close()
    assert closed == [True]
    assert len(exporter.get_finished_spans()) == 1


def test_stream_error_is_recorded(exporter):
    def gen():
        yield 1
        raise KeyError("k")

    stream = _wrap.call(_agent(exporter), gen, (), {})
    with pytest.raises(KeyError):
        list(stream)
    (span,) = exporter.get_finished_spans()
    assert span.attributes["error.type"] == "KeyError"


def test_async_call_and_async_stream(exporter):
    async def work():
        return 7

    async def agen():
        for i in range(3):
            yield i

    async def main():
        value = await _wrap.call(_agent(exporter, "x"), work, (), {})
        items = [i async for i in _wrap.call(_agent(exporter, "y"), agen, (), {})]
        partial = _wrap.call(_agent(exporter, "z"), agen, (), {})
        first = await partial.__anext__()
        await partial.aclose()
        return value, items, first

    assert asyncio.run(main()) == (7, [0, 1, 2], 0)
    assert [s.name for s in exporter.get_finished_spans()] == ["invoke_agent x", "invoke_agent y", "invoke_agent z"]


def test_span_creation_failure_is_logged_once_and_call_proceeds(exporter, caplog, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("tracer broke")

    monkeypatch.setattr(exporter.tracer, "start_span", broken)
    caplog.set_level(logging.WARNING, logger=_wrap.__name__)
    for _ in range(3):
        assert _wrap.call(_agent(exporter), lambda: 5, (), {}) == 5
    assert len([r for r in caplog.records if r.name == _wrap.__name__]) == 1


def test_attribute_failure_still_ends_span(exporter, caplog, monkeypatch):
    def broken(self):
        raise RuntimeError("attributes broke")

    monkeypatch.setattr(_wrap.AgentInvocation, "end_attributes", broken)
    caplog.set_level(logging.WARNING, logger=_wrap.__name__)
    assert _wrap.call(_agent(exporter), lambda: 5, (), {}) == 5
    assert _wrap.call(_agent(exporter), lambda: 6, (), {}) == 6
    assert len(exporter.get_finished_spans()) == 2
    assert len([r for r in caplog.records if r.name == _wrap.__name__]) == 1


def test_stream_wrapper_failure_returns_original_stream(exporter, caplog, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("stream broke")

    monkeypatch.setattr(_wrap, "SyncStream", broken)
    items = iter([1, 2])
    assert _wrap.call(_agent(exporter), lambda: items, (), {}) is items
    assert len(exporter.get_finished_spans()) == 1


def test_task_content_is_scrubbed_and_capped(exporter, monkeypatch):
    secret = "sk-test-0123456789abcdef"
    llm_keys.remember(SecretStr(secret))
    monkeypatch.setenv("XPANDER_CONTENT_MAX_LENGTH", "40")
    _wrap.refresh_content_capture()

    def run():
        _wrap.current_agent().output = "x" * 100
        return None

    operation = _agent(exporter)
    operation.invocation.input = f"use {secret}"
    _wrap.call(operation, run, (), {})
    (span,) = exporter.get_finished_spans()
    assert span.attributes[semconv.XPANDER_TASK_INPUT] == "use **********"
    assert span.attributes[semconv.XPANDER_TASK_RESULT] == "x" * 26 + "...[truncated]"


def test_message_content_off_by_default_and_task_content_can_be_turned_off(exporter, monkeypatch):
    monkeypatch.setenv("XPANDER_CAPTURE_TASK_CONTENT", "false")
    _wrap.refresh_content_capture()
    tool = _wrap.ToolInvocation(name="t", call_id="c1", arguments={"a": 1}, result="r")
    _wrap.call(_wrap.start(exporter.tracer, tool, where="test.tool"), lambda: 1, (), {})
    operation = _agent(exporter)
    operation.invocation.input = "hello"
    _wrap.call(operation, lambda: 1, (), {})
    tool_span, agent_span = exporter.get_finished_spans()
    assert semconv.TOOL_CALL_ARGUMENTS not in tool_span.attributes
    assert tool_span.attributes[semconv.TOOL_CALL_ID] == "c1"
    assert semconv.XPANDER_TASK_INPUT not in agent_span.attributes

    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "true")
    _wrap.refresh_content_capture()
    _wrap.call(_wrap.start(exporter.tracer, tool, where="test.tool"), lambda: 1, (), {})
    assert exporter.get_finished_spans()[-1].attributes[semconv.TOOL_CALL_ARGUMENTS] == '{"a": 1}'


def test_context_is_carried_into_executor_threads(exporter):
    def in_thread():
        return _wrap.call(_chat(exporter), lambda: threading.current_thread().name, (), {})

    def run():
        with ThreadPoolExecutor(2) as pool:
            futures = [pool.submit(_wrap.with_current_context(in_thread)) for _ in range(2)]
            return [f.result() for f in futures]

    _wrap.call(_agent(exporter), run, (), {})
    spans = exporter.get_finished_spans()
    agent = spans[-1]
    assert [s.parent.span_id for s in spans[:2]] == [agent.context.span_id] * 2
    assert agent.attributes[semconv.USAGE_INPUT_TOKENS] == 100
