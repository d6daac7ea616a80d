"""Google ADK emits GenAI spans itself (``invoke_workflow {app}``, ``invoke_agent {name}``,
``generate_content {model}``, ``execute_tool {name}``, with usage): we reuse them and add what is missing.

- ADK's spans go through one module-level tracer (``google.adk.telemetry.tracing.tracer``, imported by
  name into several modules) taken from the global provider at import: we put a ``NativeTracer`` of the
  instrumentor's provider in its place everywhere it was imported.
- ``generate_content`` spans (LLM calls) become CLIENT spans.
- ``invoke_workflow`` / ``invoke_agent`` spans get ``xpander.agent.id`` / ``xpander.task.id`` at start,
  and the task's input (the user message) and result (the final response) while they run.
"""

from __future__ import annotations

import contextvars
import sys
from dataclasses import dataclass
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import SpanKind

from ... import semconv, task_context
from .. import _wrap
from .._native import NativeTracer

ADK_PACKAGE = "google.adk"
ADK_TRACING_MODULE = "google.adk.telemetry.tracing"
# ADK's own instrumentation scope, kept so its spans look the same with and without us.
ADK_SCOPE = "gcp.vertex.agent"
_LLM_CALL_PREFIX = "generate_content"
_AGENT_PREFIXES = (f"{semconv.OP_INVOKE_WORKFLOW} ", f"{semconv.OP_INVOKE_AGENT} ")


@dataclass(eq=False)
class RunRecord:
    """One ``Runner`` run: the user's message, and the run's top span once ADK has started it."""

    input: str | None = None
    root: trace.Span | None = None


_current_run: contextvars.ContextVar[RunRecord | None] = contextvars.ContextVar("xpander_adk_run", default=None)


def adjust_span(name: str, kind: SpanKind, attributes: dict[str, Any] | None):
    """LLM calls are CLIENT spans; agent and workflow spans carry the xpander ids from the start."""
    if name.startswith(_LLM_CALL_PREFIX):
        return SpanKind.CLIENT, attributes
    if name.startswith(_AGENT_PREFIXES):
        extra = task_context.xpander_attributes(name.split(" ", 1)[1])
        if extra:
            attributes = {**(attributes or {}), **extra}
    return kind, attributes


def remember_run_root(name: str, span: trace.Span) -> None:
    """The first agent or workflow span of a run is its task root: it gets the task's input now."""
    run = _current_run.get()
    if run is None or run.root is not None or not name.startswith(_AGENT_PREFIXES):
        return
    run.root = span
    if run.input is not None and _wrap.content_capture().task:
        span.set_attribute(semconv.XPANDER_TASK_INPUT, _wrap.capture_text(run.input))


def native_tracer(tracer_provider: trace.TracerProvider | None, version: str | None) -> NativeTracer:
    tracer = trace.get_tracer(ADK_SCOPE, version, tracer_provider)
    return NativeTracer(tracer, adjust=adjust_span, on_start=remember_run_root, where="google_adk.tracer")


def replace_tracer(original: Any, replacement: Any) -> list[Any]:
    """Set ``tracer`` to ``replacement`` in every loaded ADK module that holds ``original``."""
    replaced = []
    for name, module in list(sys.modules.items()):
        if (name == ADK_PACKAGE or name.startswith(ADK_PACKAGE + ".")) and getattr(module, "tracer", None) is original:
            module.tracer = replacement
            replaced.append(module)
    return replaced


def _content_text(content: Any) -> str | None:
    parts = getattr(content, "parts", None) or ()
    texts = [p.text for p in parts if getattr(p, "text", None) and not getattr(p, "thought", False)]
    return "".join(texts) if texts else None


def _start_run(kwargs: dict[str, Any]) -> tuple[RunRecord, RunRecord | None]:
    run = RunRecord(input=_content_text(kwargs.get("new_message")))
    outer = _current_run.get()
    _current_run.set(run)
    return run, outer


def _record_event(run: RunRecord, event: Any) -> None:
    # The final response is yielded while ADK's root span is still open.
    if run.root is None or getattr(event, "partial", False) or not _wrap.content_capture().task:
        return
    is_final = getattr(event, "is_final_response", None)
    text = _content_text(getattr(event, "content", None))
    if text is not None and callable(is_final) and is_final() and run.root.is_recording():
        run.root.set_attribute(semconv.XPANDER_TASK_RESULT, _wrap.capture_text(text))


async def _observed_run(wrapped, args, kwargs):
    started = _wrap.guarded("google_adk.run", _start_run, kwargs)
    events = wrapped(*args, **kwargs)
    try:
        async for event in events:
            if started is not None:
                _wrap.guarded("google_adk.event", _record_event, started[0], event)
            yield event
    finally:
        await events.aclose()
        if started is not None:
            # set, not reset: an abandoned stream is finalized in another context than it started in.
            _wrap.guarded("google_adk.run_end", _current_run.set, started[1])


def run_async(wrapped, instance, args, kwargs):
    """``Runner.run_async``: the same events, observed for the task's input and result.

    ``Runner.run`` (sync) drives ``run_async`` in a thread, so it is covered too.
    """
    return _observed_run(wrapped, args, kwargs)


# ADK starts the spans itself: the wrapper needs no tracer of ours.
TARGETS = [_wrap.Target("google.adk.runners", "Runner.run_async", lambda _tracer: run_async)]
