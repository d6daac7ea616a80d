"""Pydantic AI: switch its own GenAI instrumentation on, and add the xpander attributes to its run spans.

- Spans: Pydantic AI's ``Instrumentation`` capability emits ``invoke_agent {name}`` (INTERNAL, with the
  run's ``gen_ai.aggregated_usage.*``), ``chat {model}`` (CLIENT, ``gen_ai.usage.*``, streaming included)
  and ``execute_tool {tool}`` (INTERNAL) for ``run``/``run_sync``/``run_stream``/``iter``. Wrapping the
  agent as well would duplicate them, so we emit nothing ourselves.
- Switching on: ``Agent.instrument_all(InstrumentationSettings(tracer_provider=...))``, only when the
  application has not set it; message content follows ``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT``.
  An agent built with its own ``instrument=`` keeps its settings (and still gets our attributes).
- Enriching: ``Instrumentation.wrap_run`` opens the run span and awaits ``handler()`` inside it; we hand it
  a handler that first writes ``xpander.agent.id``/``xpander.task.id`` (``task_context``, with the
  agent's ``metadata``), the task input and the model onto the current (run) span, and afterwards the result.
"""

from __future__ import annotations

from typing import Any

from opentelemetry import trace

from ... import semconv, task_context
from .. import _wrap

# Pydantic AI's span name for an agent without a name.
_UNNAMED_AGENT = "agent"


def enable_native(tracer_provider: trace.TracerProvider | None) -> Any:
    """Turn Pydantic AI's instrumentation on for ``tracer_provider``; the settings we set, or None if the
    application had set its own."""
    from pydantic_ai import Agent
    from pydantic_ai.models.instrumented import InstrumentationSettings

    if Agent._instrument_default:
        return None
    settings = InstrumentationSettings(
        tracer_provider=tracer_provider, include_content=_wrap.content_capture().messages
    )
    Agent.instrument_all(settings)
    return settings


def restore_native(settings: Any) -> None:
    """Switch off what ``enable_native`` switched on (and nothing the application set since)."""
    from pydantic_ai import Agent

    if settings is not None and Agent._instrument_default is settings:
        Agent.instrument_all(False)


def _start_attributes(ctx: Any) -> dict[str, Any]:
    agent = getattr(ctx, "agent", None)
    name = getattr(agent, "name", None) or _UNNAMED_AGENT
    metadata = getattr(ctx, "metadata", None)
    attributes: dict[str, Any] = dict(
        task_context.xpander_attributes(name, metadata if isinstance(metadata, dict) else None)
    )
    model = getattr(ctx, "model", None)
    for key, value in ((semconv.REQUEST_MODEL, getattr(model, "model_name", None)),
                       (semconv.PROVIDER_NAME, getattr(model, "system", None))):
        if isinstance(value, str) and value:
            attributes[key] = value
    if _wrap.content_capture().task:
        text = _wrap.capture_text(getattr(ctx, "prompt", None))
        if text is not None:
            attributes[semconv.XPANDER_TASK_INPUT] = text
    return attributes


def _result_attributes(result: Any) -> dict[str, Any]:
    if not _wrap.content_capture().task:
        return {}
    text = _wrap.capture_text(getattr(result, "output", None))
    return {semconv.XPANDER_TASK_RESULT: text} if text is not None else {}


def _annotate(span: trace.Span, attributes_of: Any, source: Any) -> None:
    if span.is_recording():
        span.set_attributes(attributes_of(source))


def _enriching(handler: Any, ctx: Any) -> Any:
    async def run() -> Any:
        span = trace.get_current_span()
        _wrap.guarded("pydantic_ai.run.start", _annotate, span, _start_attributes, ctx)
        result = await handler()
        _wrap.guarded("pydantic_ai.run.result", _annotate, span, _result_attributes, result)
        return result

    return run


def _wrap_run_wrapper(tracer: trace.Tracer) -> _wrap.Wrapper:
    def wrapper(wrapped, instance, args, kwargs):
        handler = kwargs.get("handler")
        ctx = args[0] if args else kwargs.get("ctx")
        # A realtime session owns its spans: Pydantic AI opens no run span there.
        if handler is None or ctx is None or getattr(ctx, "realtime", None):
            return wrapped(*args, **kwargs)
        return wrapped(*args, **{**kwargs, "handler": _enriching(handler, ctx)})

    return wrapper


TARGETS = [
    _wrap.Target("pydantic_ai.capabilities.instrumentation", "Instrumentation.wrap_run", _wrap_run_wrapper),
]
