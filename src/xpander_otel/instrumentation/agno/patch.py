"""Wrappers for agno's call paths.

- Runs: ``Agent.run``/``arun`` and ``Team.run``/``arun`` (both return a stream when ``stream=True``:
  an iterator from ``run``, an async iterator from ``arun``). agno catches a run's exceptions and
  returns a ``RunOutput`` with status ``ERROR`` (or yields a ``RunError`` event), so failures are read
  from the result.
- LLM calls: the ``Model`` base class's ``_invoke_with_retry``/``_ainvoke_with_retry`` and their stream
  twins, which every provider (and every user subclass) goes through; one span per call, retries included.
- Tools: ``FunctionCall.execute``/``aexecute``, the one path every tool call runs through. agno turns a
  tool's exception into a ``FunctionExecutionResult`` with status ``failure``.
"""

from __future__ import annotations

import inspect
from typing import Any

from opentelemetry import trace

from ... import task_context
from .. import _wrap

_AGENT_EVENTS = {"content": "RunContent", "completed": "RunCompleted", "error": "RunError", "id": "agent_id"}
_TEAM_EVENTS = {"content": "TeamRunContent", "completed": "TeamRunCompleted", "error": "TeamRunError", "id": "team_id"}
_ERROR_STATUS = "ERROR"


def _provider(model: Any) -> str | None:
    provider = getattr(model, "provider", None)
    return provider.lower() if isinstance(provider, str) else None


# --- agent and team runs -----------------------------------------------------------------------------


class _RunInvocation(_wrap.AgentInvocation):
    """An agno run: remembers which stream events are its own (member runs stream through a team)."""

    events: dict[str, str] = _AGENT_EVENTS
    run_id: str | None = None
    streamed: str = ""


def _run_invocation(events: dict[str, str], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]):
    model = getattr(instance, "model", None)
    metadata = {**(getattr(instance, "metadata", None) or {}), **(kwargs.get("metadata") or {})}
    name = getattr(instance, "name", None)
    invocation = _RunInvocation(
        name=name,
        agent_id=getattr(instance, "id", None),
        description=getattr(instance, "description", None),
        provider=_provider(model),
        request_model=getattr(model, "id", None),
        conversation_id=kwargs.get("session_id"),
        xpander=task_context.xpander_attributes(name, metadata),
        input=args[0] if args else kwargs.get("input"),
    )
    invocation.events = events
    invocation.run_id = kwargs.get("run_id")
    return invocation


def _record_run_output(invocation: _RunInvocation, output: Any) -> None:
    invocation.output = getattr(output, "content", None)
    _record_ids(invocation, output)
    if _status(output) == _ERROR_STATUS:
        invocation.fail(invocation.output, invocation.last_error_type)


def _record_run_event(invocation: _RunInvocation, event: Any) -> None:
    name = getattr(event, "event", None)
    if name is None:  # the final RunOutput itself (yield_run_output=True)
        if hasattr(event, "status") and invocation.run_id in (None, getattr(event, "run_id", None)):
            _record_run_output(invocation, event)
        return
    events = invocation.events
    if name not in events.values():
        return
    run_id = getattr(event, "run_id", None)
    if invocation.run_id is None:
        invocation.run_id = run_id
    elif run_id is not None and run_id != invocation.run_id:
        return
    _record_ids(invocation, event)
    if name == events["content"]:
        content = getattr(event, "content", None)
        if isinstance(content, str) and _wrap.content_capture().task:
            invocation.streamed += content
            invocation.output = invocation.streamed
    elif name == events["completed"]:
        invocation.output = getattr(event, "content", None)
    elif name == events["error"]:
        invocation.output = getattr(event, "content", None)
        invocation.fail(invocation.output, invocation.last_error_type)


def _record_ids(invocation: _RunInvocation, output: Any) -> None:
    # agno sets an agent's id (from its name) and the session id during the run.
    invocation.conversation_id = invocation.conversation_id or getattr(output, "session_id", None)
    invocation.agent_id = invocation.agent_id or getattr(output, invocation.events["id"], None)


def _status(output: Any) -> str | None:
    status = getattr(output, "status", None)
    return getattr(status, "value", status)


def _run_wrapper(events: dict[str, str], where: str):
    def make(tracer: trace.Tracer) -> _wrap.Wrapper:
        def wrapper(wrapped, instance, args, kwargs):
            operation = _wrap.start(tracer, _run_invocation, events, instance, args, kwargs, where=where)
            return _wrap.call(
                operation, wrapped, args, kwargs, on_result=_record_run_output, on_chunk=_record_run_event
            )

        return wrapper

    return make


# --- model calls -------------------------------------------------------------------------------------


def _chat_invocation(model: Any, kwargs: dict[str, Any]) -> _wrap.ChatInvocation:
    invocation = _wrap.ChatInvocation(request_model=getattr(model, "id", None), provider=_provider(model))
    if _wrap.content_capture().messages:
        invocation.input_messages = [_message(m) for m in kwargs.get("messages") or ()]
    return invocation


def _message(message: Any) -> dict[str, Any]:
    return {"role": getattr(message, "role", None), "content": getattr(message, "content", None)}


def _add_response(invocation: _wrap.ChatInvocation, response: Any) -> None:
    """One ModelResponse (whole or a stream delta): usage adds up, as agno sums streamed usage."""
    usage = getattr(response, "response_usage", None)
    if usage is not None:
        invocation.usage.add(_wrap.Usage(
            input_tokens=getattr(usage, "input_tokens", None),
            output_tokens=getattr(usage, "output_tokens", None),
            cache_read_input_tokens=getattr(usage, "cache_read_tokens", None),
            cache_write_input_tokens=getattr(usage, "cache_write_tokens", None),
        ))
    provider_data = getattr(response, "provider_data", None)
    if isinstance(provider_data, dict) and provider_data.get("id"):
        invocation.response_id = str(provider_data["id"])
    if _wrap.content_capture().messages:
        content = getattr(response, "content", None)
        tool_calls = getattr(response, "tool_calls", None)
        output = invocation.output_messages or {"role": "assistant", "content": "", "tool_calls": []}
        if isinstance(content, str):
            output["content"] += content
        if tool_calls:
            output["tool_calls"].extend(tool_calls)
        invocation.output_messages = output


def _chat_wrapper(where: str):
    def make(tracer: trace.Tracer) -> _wrap.Wrapper:
        def wrapper(wrapped, instance, args, kwargs):
            operation = _wrap.start(tracer, _chat_invocation, instance, kwargs, where=where)
            return _wrap.call(operation, wrapped, args, kwargs, on_result=_add_response, on_chunk=_add_response)

        return wrapper

    return make


# --- tool calls --------------------------------------------------------------------------------------


def _tool_invocation(function_call: Any) -> _wrap.ToolInvocation:
    function = function_call.function
    return _wrap.ToolInvocation(
        name=getattr(function, "name", None),
        call_id=function_call.call_id,
        arguments=function_call.arguments,
    )


def _record_tool_result(invocation: _wrap.ToolInvocation, outcome: Any) -> None:
    if getattr(outcome, "status", None) == "failure":
        invocation.fail(getattr(outcome, "error", None), "ToolError")
    else:
        invocation.result = getattr(outcome, "result", None)


def _generator_result(function_call: Any):
    """A tool that returns a generator (a team's ``delegate_task_to_member``) runs while agno iterates
    it, after ``execute`` returned: the span stays open until the generator is done."""

    def hand_over(operation: _wrap.Operation, outcome: Any) -> bool:
        inner = getattr(outcome, "result", None)
        if not (inspect.isgenerator(inner) or inspect.isasyncgen(inner)):
            return False
        wrapped = _wrap.stream(operation, inner)
        outcome.result = wrapped
        if function_call.result is inner:
            function_call.result = wrapped
        return True

    return hand_over


def _tool_wrapper(where: str):
    def make(tracer: trace.Tracer) -> _wrap.Wrapper:
        def wrapper(wrapped, instance, args, kwargs):
            operation = _wrap.start(tracer, _tool_invocation, instance, where=where)
            return _wrap.call(
                operation, wrapped, args, kwargs, on_result=_record_tool_result, hand_over=_generator_result(instance)
            )

        return wrapper

    return make


TARGETS = [
    _wrap.Target("agno.agent.agent", "Agent.run", _run_wrapper(_AGENT_EVENTS, "agno.agent.run")),
    _wrap.Target("agno.agent.agent", "Agent.arun", _run_wrapper(_AGENT_EVENTS, "agno.agent.arun")),
    _wrap.Target("agno.team.team", "Team.run", _run_wrapper(_TEAM_EVENTS, "agno.team.run")),
    _wrap.Target("agno.team.team", "Team.arun", _run_wrapper(_TEAM_EVENTS, "agno.team.arun")),
    _wrap.Target("agno.models.base", "Model._invoke_with_retry", _chat_wrapper("agno.model.invoke")),
    _wrap.Target("agno.models.base", "Model._ainvoke_with_retry", _chat_wrapper("agno.model.ainvoke")),
    _wrap.Target("agno.models.base", "Model._invoke_stream_with_retry", _chat_wrapper("agno.model.invoke_stream")),
    _wrap.Target("agno.models.base", "Model._ainvoke_stream_with_retry", _chat_wrapper("agno.model.ainvoke_stream")),
    _wrap.Target("agno.tools.function", "FunctionCall.execute", _tool_wrapper("agno.tool.execute")),
    _wrap.Target("agno.tools.function", "FunctionCall.aexecute", _tool_wrapper("agno.tool.aexecute")),
]
