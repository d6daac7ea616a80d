"""Helpers for the exporter tests: hand-built span records and GenAI spans made through the OTel API."""

from __future__ import annotations

import itertools
from typing import Any

from opentelemetry.trace import SpanKind, Status, StatusCode, Tracer

from xpander_otel import semconv
from xpander_otel.exporter.spans import SpanRecord

_ids = itertools.count(1)
SECOND = 1_000_000_000


def record(
    name: str,
    parent: SpanRecord | None = None,
    *,
    trace_id: int = 0xABC,
    start: float = 0.0,
    end: float = 1.0,
    error: str | None = None,
    remote_parent: bool = False,
    agent_ancestor: bool | None = None,
    parent_id: int | None = None,
    **attributes: Any,
) -> SpanRecord:
    """A span record; ``attributes`` use ``__`` for dots (``gen_ai__operation__name``) or a dict via ``attrs``."""
    attrs = dict(attributes.pop("attrs", {}))
    attrs.update({k.replace("__", "."): v for k, v in attributes.items()})
    return SpanRecord(
        trace_id=parent.trace_id if parent else trace_id,
        span_id=next(_ids),
        parent_id=parent.span_id if parent else parent_id,
        name=name,
        start_ns=int(start * SECOND),
        end_ns=int(end * SECOND),
        is_error=error is not None,
        error_message=error or None,
        attributes=attrs,
        parent_is_remote=remote_parent,
        agent_ancestor=agent_ancestor,
    )


def agent(parent: SpanRecord | None = None, name: str = "weather", **kw: Any) -> SpanRecord:
    attrs = {semconv.OPERATION_NAME: semconv.OP_INVOKE_AGENT, semconv.AGENT_NAME: name, **kw.pop("attrs", {})}
    return record(f"invoke_agent {name}", parent, attrs=attrs, **kw)


def chat(parent: SpanRecord, prompt: int, completion: int, model: str = "gpt-4.1", **kw: Any) -> SpanRecord:
    attrs = {semconv.OPERATION_NAME: semconv.OP_CHAT, semconv.REQUEST_MODEL: model,
             semconv.USAGE_INPUT_TOKENS: prompt, semconv.USAGE_OUTPUT_TOKENS: completion, **kw.pop("attrs", {})}
    return record(f"chat {model}", parent, attrs=attrs, **kw)


def tool(parent: SpanRecord, name: str, **kw: Any) -> SpanRecord:
    attrs = {semconv.OPERATION_NAME: semconv.OP_EXECUTE_TOOL, semconv.TOOL_NAME: name, **kw.pop("attrs", {})}
    return record(f"execute_tool {name}", parent, attrs=attrs, **kw)


def weather_run(tracer: Tracer, *, agent_id: str = "agent-123", question: str = "Weather in Paris?",
                fail: bool = False) -> None:
    """The default scripted run, as an instrumentor emits it: agent -> chat, tool, chat."""
    with tracer.start_as_current_span("invoke_agent weather", kind=SpanKind.INTERNAL, attributes={
        semconv.OPERATION_NAME: semconv.OP_INVOKE_AGENT, semconv.AGENT_NAME: "weather",
        semconv.XPANDER_AGENT_ID: agent_id, semconv.XPANDER_TASK_INPUT: question,
    }) as root:
        with tracer.start_as_current_span("chat gpt-4.1", kind=SpanKind.CLIENT, attributes={
            semconv.OPERATION_NAME: semconv.OP_CHAT, semconv.REQUEST_MODEL: "gpt-4.1",
            semconv.USAGE_INPUT_TOKENS: 50, semconv.USAGE_OUTPUT_TOKENS: 10,
            semconv.RESPONSE_FINISH_REASONS: ("tool_calls",),
        }):
            pass
        with tracer.start_as_current_span("execute_tool get_weather", attributes={
            semconv.OPERATION_NAME: semconv.OP_EXECUTE_TOOL, semconv.TOOL_NAME: "get_weather",
        }):
            pass
        with tracer.start_as_current_span("chat gpt-4.1", kind=SpanKind.CLIENT, attributes={
            semconv.OPERATION_NAME: semconv.OP_CHAT, semconv.REQUEST_MODEL: "gpt-4.1",
            semconv.RESPONSE_MODEL: "gpt-4.1-2025", semconv.USAGE_INPUT_TOKENS: 80,
            semconv.USAGE_OUTPUT_TOKENS: 12, semconv.RESPONSE_FINISH_REASONS: ("stop",),
        }):
            pass
        if fail:
            root.set_status(Status(StatusCode.ERROR, "RuntimeError: model unavailable"))
        else:
            root.set_attribute(semconv.XPANDER_TASK_RESULT, "It is sunny in Paris, 22 degrees.")


def expected_weather_body(task_id: str, trace_id: str, duration: float, question: str = "Weather in Paris?"):
    """The exact report body of ``weather_run`` (duration measured from the span)."""
    return {
        "id": task_id,
        "input": question,
        "llm_response": {"model": "gpt-4.1-2025", "content": None, "finish_reason": "stop",
                         "usage": {"prompt_tokens": 80, "completion_tokens": 12, "total_tokens": 92},
                         "trace_id": trace_id},
        "tokens": {"completion_tokens": 22, "prompt_tokens": 130, "cache_read_tokens": 0,
                   "cache_write_tokens": 0, "total_tokens": 152},
        "is_success": True,
        "result": "It is sunny in Paris, 22 degrees.",
        "duration": duration,
        "used_tools": ["get_weather"],
    }
