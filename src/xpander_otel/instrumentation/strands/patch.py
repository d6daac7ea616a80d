"""Strands emits GenAI spans itself (``invoke_agent {name}``, ``chat``, ``execute_tool {name}``): we
reuse them and add only what is missing.

- Its spans go through its singleton ``strands.telemetry.tracer.Tracer``, whose OpenTelemetry tracer comes
  from the global provider: we put a ``NativeTracer`` of the instrumentor's provider in its place.
- ``chat`` spans become ``chat {model}`` of kind CLIENT with finish reasons (usage is already there:
  Strands streams internally even for a sync call and records the last event's usage).
- ``invoke_agent`` spans get ``xpander.agent.id`` / ``xpander.task.id`` and the task's input and result.
- A stream abandoned half-way ends the agent span but leaves the chat and cycle spans open: we end them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import SpanKind

from ... import semconv, task_context
from .. import _wrap
from .._native import NativeTracer

STRANDS_TRACER_MODULE = "strands.telemetry.tracer"
# Strands' own instrumentation scope, kept so its spans look the same with and without us.
STRANDS_SCOPE = "strands.telemetry.tracer"
_CANCELLATION_TYPE = "strands.cancellation.type"


def client_kind_for_chat(name: str, kind: SpanKind, attributes: dict[str, Any] | None):
    """Strands starts its model-call span as INTERNAL; an LLM call is a CLIENT span."""
    if name == semconv.OP_CHAT:
        return SpanKind.CLIENT, attributes
    return kind, attributes


def native_tracer(tracer_provider: trace.TracerProvider | None) -> NativeTracer:
    tracer = trace.get_tracer(STRANDS_SCOPE, tracer_provider=tracer_provider)
    return NativeTracer(tracer, adjust=client_kind_for_chat, where="strands.tracer")


def _argument(args: tuple[Any, ...], kwargs: dict[str, Any], index: int, name: str) -> Any:
    return kwargs[name] if name in kwargs else (args[index] if len(args) > index else None)


def _last_user_text(messages: Any) -> str | None:
    for message in reversed(messages or ()):
        if message.get("role") == "user":
            texts = [block["text"] for block in message.get("content") or () if "text" in block]
            if texts:
                return "\n".join(texts)
    return None


def _enrich_agent_span(span: trace.Span, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    agent_name = _argument(args, kwargs, 1, "agent_name")
    custom: Mapping[str, Any] = kwargs.get("custom_trace_attributes") or {}
    explicit = task_context.current() is not None
    # The agent's own trace_attributes (set by our builder) win unless a task() scope says otherwise.
    attributes = {
        key: value
        for key, value in task_context.xpander_attributes(agent_name).items()
        if explicit or key not in custom
    }
    if _wrap.content_capture().task:
        text = _last_user_text(_argument(args, kwargs, 0, "messages"))
        if text is not None:
            attributes[semconv.XPANDER_TASK_INPUT] = _wrap.capture_text(text)
    if attributes:
        span.set_attributes(attributes)


def start_agent_span(wrapped, instance, args, kwargs):
    span = wrapped(*args, **kwargs)
    _wrap.guarded("strands.agent_span", _enrich_agent_span, span, args, kwargs)
    return span


def _record_agent_result(span: trace.Span, response: Any) -> None:
    if response is not None and _wrap.content_capture().task and span.is_recording():
        span.set_attribute(semconv.XPANDER_TASK_RESULT, _wrap.capture_text(str(response)))


def end_agent_span(wrapped, instance, args, kwargs):
    span = _argument(args, kwargs, 0, "span")
    _wrap.guarded("strands.agent_result", _record_agent_result, span, _argument(args, kwargs, 1, "response"))
    return wrapped(*args, **kwargs)


def _name_chat_span(span: trace.Span, model_id: Any) -> None:
    if model_id:
        span.update_name(f"{semconv.OP_CHAT} {model_id}")


def start_model_invoke_span(wrapped, instance, args, kwargs):
    span = wrapped(*args, **kwargs)
    _wrap.guarded("strands.chat_span", _name_chat_span, span, kwargs.get("model_id"))
    return span


def _record_finish_reason(span: trace.Span, stop_reason: Any) -> None:
    if stop_reason is not None and span.is_recording():
        span.set_attribute(semconv.RESPONSE_FINISH_REASONS, (str(stop_reason),))


def end_model_invoke_span(wrapped, instance, args, kwargs):
    span = _argument(args, kwargs, 0, "span")
    _wrap.guarded("strands.chat_result", _record_finish_reason, span, _argument(args, kwargs, 4, "stop_reason"))
    return wrapped(*args, **kwargs)


def _end_children(instance: Any, span: Any, cancellation: Any) -> None:
    native = getattr(instance, "tracer", None)
    if isinstance(native, NativeTracer) and span is not None:
        native.end_open_descendants(span, {_CANCELLATION_TYPE: type(cancellation).__name__})


def end_span_with_cancellation(wrapped, instance, args, kwargs):
    result = wrapped(*args, **kwargs)
    span = _argument(args, kwargs, 0, "span")
    _wrap.guarded("strands.abandoned", _end_children, instance, span, _argument(args, kwargs, 1, "cancellation"))
    return result


def _uses_native_spans(wrapper):
    # Strands starts the spans itself: these wrappers need no tracer of ours.
    return lambda _tracer: wrapper


TARGETS = [
    _wrap.Target(STRANDS_TRACER_MODULE, "Tracer.start_agent_span", _uses_native_spans(start_agent_span)),
    _wrap.Target(STRANDS_TRACER_MODULE, "Tracer.end_agent_span", _uses_native_spans(end_agent_span)),
    _wrap.Target(STRANDS_TRACER_MODULE, "Tracer.start_model_invoke_span", _uses_native_spans(start_model_invoke_span)),
    _wrap.Target(STRANDS_TRACER_MODULE, "Tracer.end_model_invoke_span", _uses_native_spans(end_model_invoke_span)),
    _wrap.Target(
        STRANDS_TRACER_MODULE, "Tracer.end_span_with_cancellation", _uses_native_spans(end_span_with_cancellation)
    ),
]
