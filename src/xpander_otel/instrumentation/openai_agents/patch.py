"""Wrappers and the tracing bridge for the OpenAI Agents SDK.

- Runs: ``AgentRunner.run`` (``Runner.run`` and ``run_sync`` go through it) and ``run_streamed``, whose
  loop runs in a background task: its span ends when that task is done (finished, failed, cancelled).
  The run's span is the task root ``invoke_agent {starting agent}``.
- Everything inside a run comes from the SDK's own tracing, through ``BRIDGE``, a trace processor added
  next to the user's: agent spans (a handoff's target becomes a child ``invoke_agent`` of the run), model
  spans of both APIs (``response`` for Responses, ``generation`` for Chat Completions and the
  LiteLLM/any-llm adapters) as ``chat``, function spans as ``execute_tool``. The SDK's function span has
  no call id; ``ToolContext.from_agent_context``, which every function tool call builds inside its span,
  supplies it.
- SDK tracing switched off (``OPENAI_AGENTS_DISABLE_TRACING`` or ``RunConfig(tracing_disabled=True)``)
  leaves only the run spans.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from agents.tracing import TracingProcessor, get_current_span
from agents.tracing.span_data import (
    AgentSpanData,
    FunctionSpanData,
    GenerationSpanData,
    ResponseSpanData,
)
from opentelemetry import context as otel_context
from opentelemetry import trace

from ... import task_context
from .. import _wrap

_PROVIDER = "openai"


# --- runs --------------------------------------------------------------------------------------------


class _RunInvocation(_wrap.AgentInvocation):
    """A Runner run. Its starting agent's SDK agent span is this span, not a child of it ("claimed")."""

    claimed: bool = False
    # Agent name -> model name, for the handoff targets' spans and their model calls.
    models: dict[str, str | None] = {}  # replaced per instance


def _model_name(agent: Any, run_config: Any) -> str | None:
    model = getattr(agent, "model", None) or getattr(run_config, "model", None)
    if isinstance(model, str):
        return model
    if model is not None:
        return getattr(model, "model", None)
    from agents.models import get_default_model

    return get_default_model()


def _models_by_agent(starting_agent: Any, run_config: Any) -> dict[str, str | None]:
    models: dict[str, str | None] = {}
    pending = [starting_agent]
    while pending:
        agent = pending.pop()
        name = getattr(agent, "name", None)
        if not isinstance(name, str) or name in models:
            continue
        models[name] = _model_name(agent, run_config)
        for handoff in getattr(agent, "handoffs", None) or ():
            ref = getattr(handoff, "_agent_ref", None)
            pending.append(ref() if callable(ref) else handoff)
    return models


def _run_invocation(args: tuple[Any, ...], kwargs: dict[str, Any]) -> _RunInvocation:
    agent = args[0] if args else kwargs.get("starting_agent")
    run_config = kwargs.get("run_config")
    name = getattr(agent, "name", None)
    models = _models_by_agent(agent, run_config)
    invocation = _RunInvocation(
        name=name,
        provider=_PROVIDER,
        request_model=models.get(name) if isinstance(name, str) else None,
        conversation_id=kwargs.get("conversation_id"),
        xpander=task_context.xpander_attributes(name, getattr(agent, "metadata", None)),
        input=args[1] if len(args) > 1 else kwargs.get("input"),
    )
    invocation.models = models
    return invocation


def _record_result(invocation: _RunInvocation, result: Any) -> None:
    invocation.output = getattr(result, "final_output", None)


def _end_with_run_loop(operation: _wrap.Operation, result: Any) -> bool:
    """``run_streamed`` returns at once; the run ends with its background task."""
    task = getattr(result, "run_loop_task", None)
    if task is None:
        return False

    def done(finished: Any) -> None:
        error = None if finished.cancelled() else finished.exception()
        error = error or getattr(result, "_stored_exception", None)
        if error is None:
            _wrap.guarded(f"{operation.where}.result", _record_result, operation.invocation, result)
        operation.end(error)

    task.add_done_callback(done)
    return True


def _run_wrapper(where: str, streamed: bool):
    def make(tracer: trace.Tracer) -> _wrap.Wrapper:
        def wrapper(wrapped, instance, args, kwargs):
            # An agent used as a tool runs inside the outer run's tool span.
            parent = _wrap.guarded(f"{where}.parent", BRIDGE.current_context)
            operation = _wrap.start(tracer, _run_invocation, args, kwargs, where=where, parent=parent)
            if streamed:
                return _wrap.call(operation, wrapped, args, kwargs, hand_over=_end_with_run_loop)
            return _wrap.call(operation, wrapped, args, kwargs, on_result=_record_result)

        return wrapper

    return make


def _tool_call_id_wrapper(tracer: trace.Tracer) -> _wrap.Wrapper:
    def wrapper(wrapped, instance, args, kwargs):
        tool_context = wrapped(*args, **kwargs)
        _wrap.guarded("openai_agents.tool_call_id", BRIDGE.record_call_id, tool_context)
        return tool_context

    return wrapper


# --- the tracing bridge ------------------------------------------------------------------------------


@dataclass
class _Node:
    """One SDK span: our operation for it (None when it maps onto no span of ours) and the context its
    children start in."""

    operation: _wrap.Operation | None
    context: otel_context.Context
    agent: _wrap.AgentInvocation | None = None


class _Bridge(TracingProcessor):
    """SDK spans -> OpenTelemetry spans. Added once; ``enable``/``disable`` follow instrument/uninstrument."""

    def __init__(self) -> None:
        self._tracer: trace.Tracer | None = None
        self._nodes: dict[str, _Node] = {}
        # Per SDK trace: its span ids, so spans the SDK never ended are ended with the trace.
        self._traces: dict[str | None, set[str]] = {}
        self._lock = threading.Lock()
        self._registered = False

    def enable(self, tracer: trace.Tracer) -> None:
        self._tracer = tracer
        if not self._registered:
            from agents.tracing import add_trace_processor

            add_trace_processor(self)
            self._registered = True

    def disable(self) -> None:
        self._tracer = None

    # TracingProcessor: each callback guarded, the SDK's own processors run regardless.

    def on_trace_start(self, trace: Any) -> None:
        pass

    def on_trace_end(self, trace: Any) -> None:
        _wrap.guarded("openai_agents.bridge.trace_end", self._end_trace, getattr(trace, "trace_id", None))

    def on_span_start(self, span: Any) -> None:
        if self._tracer is not None:
            _wrap.guarded("openai_agents.bridge.span_start", self._start, span)

    def on_span_end(self, span: Any) -> None:
        with self._lock:
            node = self._nodes.pop(span.span_id, None)
            self._traces.get(getattr(span, "trace_id", None), set()).discard(span.span_id)
        if node is not None and node.operation is not None:
            _wrap.guarded("openai_agents.bridge.span_end", _fill, node.operation.invocation, span)
            node.operation.end()

    def shutdown(self) -> None:
        pass

    def force_flush(self) -> None:
        pass

    # Mapping.

    def current_context(self) -> otel_context.Context | None:
        """The context of the SDK's current span, if it is one of ours (None: use the current one)."""
        span = get_current_span()
        node = self._nodes.get(span.span_id) if span is not None else None
        return node.context if node is not None else None

    def record_call_id(self, tool_context: Any) -> None:
        span = get_current_span()
        node = self._nodes.get(span.span_id) if span is not None else None
        if node is not None and node.operation is not None:
            invocation = node.operation.invocation
            if isinstance(invocation, _wrap.ToolInvocation):
                invocation.call_id = getattr(tool_context, "tool_call_id", None)

    def _start(self, span: Any) -> None:
        data = span.span_data
        parent = self._nodes.get(span.parent_id) if span.parent_id else None
        context = parent.context if parent is not None else otel_context.get_current()
        agent = parent.agent if parent is not None else _wrap.current_agent()
        if isinstance(data, AgentSpanData):
            node = self._agent_node(data, span)
        elif isinstance(data, (GenerationSpanData, ResponseSpanData)):
            model = getattr(data, "model", None) or _model_of(agent, data)
            invocation = _wrap.ChatInvocation(request_model=model, provider=_PROVIDER)
            node = self._node(invocation, context, agent, "openai_agents.chat")
        elif isinstance(data, FunctionSpanData):
            invocation = _wrap.ToolInvocation(name=data.name)
            node = self._node(invocation, context, agent, "openai_agents.tool")
        else:  # handoff, guardrail, custom, task/turn spans: transparent
            node = _Node(None, context, agent)
        node_trace = getattr(span, "trace_id", None)
        with self._lock:
            self._nodes[span.span_id] = node
            self._traces.setdefault(node_trace, set()).add(span.span_id)

    def _agent_node(self, data: AgentSpanData, span: Any) -> _Node:
        # Agent spans start in the run loop, which runs inside the run's context.
        context = otel_context.get_current()
        run = _wrap.current_agent()
        if isinstance(run, _RunInvocation) and not run.claimed and run.name == data.name:
            run.claimed = True
            return _Node(None, context, run)
        models = _root_models(run)
        invocation = _wrap.AgentInvocation(name=data.name, provider=_PROVIDER, request_model=models.get(data.name))
        return self._node(invocation, context, invocation, "openai_agents.agent")

    def _node(
        self, invocation: _wrap.Invocation, context: otel_context.Context, agent: Any, where: str
    ) -> _Node:
        operation = _wrap.start(self._tracer, invocation, where=where, parent=context)
        if operation is None:
            return _Node(None, context, agent)
        return _Node(operation, operation.context, agent)

    def _end_trace(self, trace_id: str | None) -> None:
        with self._lock:
            leftovers = [self._nodes.pop(i, None) for i in self._traces.pop(trace_id, ())]
        for node in leftovers:
            if node is not None and node.operation is not None:
                node.operation.end()


def _root_models(run: Any) -> dict[str, str | None]:
    while run is not None and not isinstance(run, _RunInvocation):
        run = run.parent
    return run.models if run is not None else {}


def _model_of(agent: Any, data: Any) -> str | None:
    if agent is None:
        return None
    return agent.request_model or _root_models(agent).get(agent.name)


def _fill(invocation: _wrap.Invocation, span: Any) -> None:
    """Copy what the SDK span learned into our invocation, once, when it ends."""
    data = span.span_data
    if isinstance(invocation, _wrap.ChatInvocation):
        _fill_chat(invocation, data)
    elif isinstance(invocation, _wrap.ToolInvocation) and _wrap.content_capture().messages:
        invocation.arguments, invocation.result = data.input, data.output
    error = span.error
    if error:
        details = error.get("data") or {}
        message = details.get("error") or error.get("message")
        kind = "ToolError" if isinstance(invocation, _wrap.ToolInvocation) else "error"
        invocation.fail(message, kind)


def _fill_chat(invocation: _wrap.ChatInvocation, data: Any) -> None:
    usage = data.usage or {}
    details = usage.get("input_tokens_details") or {}
    invocation.usage = _wrap.Usage(
        input_tokens=usage.get("input_tokens"),
        output_tokens=usage.get("output_tokens"),
        cache_read_input_tokens=details.get("cached_tokens"),
    )
    response = getattr(data, "response", None)
    if response is not None:
        invocation.response_id = response.id
        invocation.response_model = response.model
        invocation.request_model = invocation.request_model or response.model
    else:
        invocation.response_id = getattr(data, "_response_id", None)
    if _wrap.content_capture().messages:
        invocation.input_messages = data.input
        invocation.output_messages = getattr(data, "output", None) or (response.output if response else None)


BRIDGE = _Bridge()

TARGETS: list[_wrap.Target] = [
    _wrap.Target("agents.run", "AgentRunner.run", _run_wrapper("openai_agents.run", streamed=False)),
    _wrap.Target("agents.run", "AgentRunner.run_streamed", _run_wrapper("openai_agents.run_streamed", streamed=True)),
    _wrap.Target("agents.tool_context", "ToolContext.from_agent_context", _tool_call_id_wrapper),
]
