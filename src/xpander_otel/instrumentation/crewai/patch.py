"""Wrappers for CrewAI's call paths.

- Crew runs: ``Crew.kickoff`` and ``Crew.akickoff`` give one ``invoke_workflow {crew}`` span per run.
  Every other entry point ends up in one of them: ``kickoff_async`` is ``kickoff`` in a thread
  (``asyncio.to_thread`` carries the context over), ``kickoff_for_each`` kicks off copies. With
  ``stream=True`` both return a streaming output at once and call themselves again (with ``stream``
  switched off) in a thread or task when the caller starts iterating; that inner call is the run, so the
  outer one passes through and one run still gives one span (and one report).
- Agents: ``Agent.execute_task``/``aexecute_task`` (an agent working on a crew task) and the standalone
  ``Agent.kickoff``/``kickoff_async``/``akickoff`` give ``invoke_agent {role}``. CrewAI retries a failed
  task by calling ``execute_task`` again from inside it; a call for the agent whose span is already
  current passes through, so the retries share one span.
- LLM calls: ``call``/``acall`` of ``LLM`` (LiteLLM) and of each native provider (OpenAI, and through
  it OpenAI-compatible hosts; Anthropic, Azure, Gemini, Bedrock when their SDKs are installed). Usage is
  read where every provider reports it, ``BaseLLM._track_token_usage_internal``, and the finish reason
  and response id from ``BaseLLM._emit_call_completed_event``, streaming included.
- Tools: ``BaseTool.run``/``arun`` and ``Tool.run``/``arun``; the call id comes from the agent
  executor's ``_execute_single_native_tool_call``. CrewAI turns a tool's exception into a result for the
  model; the tool span still records it.
"""

from __future__ import annotations

import contextvars
import inspect
from typing import Any, ClassVar

from opentelemetry import trace

from ... import semconv, task_context
from .. import _wrap

_PROVIDER_MODULES = {
    "crewai.llm": "LLM",
    "crewai.llms.providers.openai.completion": "OpenAICompletion",
    "crewai.llms.providers.anthropic.completion": "AnthropicCompletion",
    "crewai.llms.providers.azure.completion": "AzureCompletion",
    "crewai.llms.providers.gemini.completion": "GeminiCompletion",
    "crewai.llms.providers.bedrock.completion": "BedrockCompletion",
}

# The LLM call whose span is open in this context: usage and finish reasons are added to it.
_current_chat: contextvars.ContextVar[_Chat | None] = contextvars.ContextVar("xpander_crewai_chat", default=None)
# The tool call id of the native tool call being executed.
_native_call_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("xpander_crewai_call_id", default=None)


class _Run(_wrap.AgentInvocation):
    """An agent run; ``owner`` is the CrewAI object it belongs to (to recognise re-entry)."""

    owner: Any = None


class _CrewRun(_Run):
    operation: ClassVar[str] = semconv.OP_INVOKE_WORKFLOW


class _Chat(_wrap.ChatInvocation):
    llm: Any = None


def _reentered(instance: Any) -> bool:
    current = _wrap.current_agent()
    return isinstance(current, _Run) and current.owner is instance


def _llm_model(llm: Any) -> str | None:
    model = getattr(llm, "model", None)
    return model if isinstance(model, str) else None


def _llm_provider(llm: Any) -> str | None:
    provider = getattr(llm, "provider", None)
    return provider if isinstance(provider, str) and provider else None


def _run_wrapper(factory: Any, record: Any, where: str, *, streams_reenter: bool = False):
    def make(tracer: trace.Tracer) -> _wrap.Wrapper:
        def wrapper(wrapped, instance, args, kwargs):
            # A streaming kickoff returns at once and runs again with ``stream`` off: that call is the run.
            if (streams_reenter and getattr(instance, "stream", False) is True) or _reentered(instance):
                return wrapped(*args, **kwargs)
            operation = _wrap.start(tracer, factory, instance, args, kwargs, where=where)
            return _wrap.call(operation, wrapped, args, kwargs, on_result=record)

        return wrapper

    return make


# --- crews -------------------------------------------------------------------------------------------


def _crew_invocation(crew: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> _CrewRun:
    name = getattr(crew, "name", None) or "crew"
    inputs = args[0] if args else kwargs.get("inputs")
    if not inputs:
        tasks = getattr(crew, "tasks", None) or []
        inputs = getattr(tasks[0], "description", None) if tasks else None
    invocation = _CrewRun(name=name, xpander=task_context.xpander_attributes(name), input=inputs)
    invocation.owner = crew
    return invocation


def _record_output(invocation: _Run, output: Any) -> None:
    invocation.output = getattr(output, "raw", output)


# --- agents ------------------------------------------------------------------------------------------


def _agent_invocation(agent: Any, task_input: Any) -> _Run:
    llm = getattr(agent, "llm", None)
    role = getattr(agent, "role", None)
    invocation = _Run(
        name=role,
        description=getattr(agent, "goal", None),
        provider=_llm_provider(llm),
        request_model=_llm_model(llm),
        xpander=task_context.xpander_attributes(role),
        input=task_input,
    )
    invocation.owner = agent
    return invocation


def _task_invocation(agent: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> _Run:
    task = args[0] if args else kwargs.get("task")
    return _agent_invocation(agent, getattr(task, "description", None))


def _kickoff_invocation(agent: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> _Run:
    return _agent_invocation(agent, args[0] if args else kwargs.get("messages"))


# --- LLM calls ---------------------------------------------------------------------------------------


def _chat_invocation(llm: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> _Chat:
    invocation = _Chat(request_model=_llm_model(llm), provider=_llm_provider(llm))
    invocation.llm = llm
    if _wrap.content_capture().messages:
        invocation.input_messages = args[0] if args else kwargs.get("messages")
    return invocation


def _chat_wrapper(where: str):
    def make(tracer: trace.Tracer) -> _wrap.Wrapper:
        def wrapper(wrapped, instance, args, kwargs):
            current = _current_chat.get()
            if current is not None and current.llm is instance:  # a provider calling its parent's call()
                return wrapped(*args, **kwargs)
            operation = _wrap.start(tracer, _chat_invocation, instance, args, kwargs, where=where)
            if operation is None:
                return wrapped(*args, **kwargs)
            if inspect.iscoroutinefunction(wrapped):
                return _awaited_chat(operation, wrapped, args, kwargs)
            token = _current_chat.set(operation.invocation)
            try:
                return _wrap.call(operation, wrapped, args, kwargs)
            finally:
                _current_chat.reset(token)

        return wrapper

    return make


async def _awaited_chat(operation: _wrap.Operation, wrapped: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    token = _current_chat.set(operation.invocation)
    try:
        return await _wrap.call(operation, wrapped, args, kwargs)
    finally:
        _current_chat.reset(token)


def _add_usage(chat: _Chat, usage_data: Any) -> None:
    from crewai.types.usage_metrics import UsageMetrics

    metrics = UsageMetrics.from_provider_dict(usage_data) if isinstance(usage_data, dict) else None
    if metrics is not None:
        chat.usage.add(_wrap.Usage(
            input_tokens=metrics.prompt_tokens,
            output_tokens=metrics.completion_tokens,
            cache_read_input_tokens=metrics.cached_prompt_tokens or None,
            cache_write_input_tokens=metrics.cache_creation_tokens or None,
        ))


def _usage_wrapper(tracer: trace.Tracer) -> _wrap.Wrapper:
    def wrapper(wrapped, instance, args, kwargs):
        result = wrapped(*args, **kwargs)
        chat = _current_chat.get()
        if chat is not None and chat.llm is instance:
            _wrap.guarded("crewai.llm.usage", _add_usage, chat, args[0] if args else kwargs.get("usage_data"))
        return result

    return wrapper


def _add_completion(chat: _Chat, kwargs: dict[str, Any]) -> None:
    finish_reason, response_id = kwargs.get("finish_reason"), kwargs.get("response_id")
    if finish_reason:
        chat.finish_reasons = [str(finish_reason)]
    if response_id:
        chat.response_id = str(response_id)
    if _wrap.content_capture().messages:
        chat.output_messages = kwargs.get("response")


def _completion_wrapper(tracer: trace.Tracer) -> _wrap.Wrapper:
    def wrapper(wrapped, instance, args, kwargs):
        chat = _current_chat.get()
        if chat is not None and chat.llm is instance:
            _wrap.guarded("crewai.llm.completed", _add_completion, chat, kwargs)
        return wrapped(*args, **kwargs)

    return wrapper


# --- tools -------------------------------------------------------------------------------------------


def _tool_invocation(tool: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> _wrap.ToolInvocation:
    return _wrap.ToolInvocation(
        name=getattr(tool, "name", None),
        call_id=_native_call_id.get(),
        description=getattr(tool, "description", None),
        arguments=kwargs or (args[0] if len(args) == 1 else list(args)) or None,
    )


def _record_tool_result(invocation: _wrap.ToolInvocation, result: Any) -> None:
    invocation.result = result


def _tool_wrapper(where: str):
    def make(tracer: trace.Tracer) -> _wrap.Wrapper:
        def wrapper(wrapped, instance, args, kwargs):
            operation = _wrap.start(tracer, _tool_invocation, instance, args, kwargs, where=where)
            return _wrap.call(operation, wrapped, args, kwargs, on_result=_record_tool_result)

        return wrapper

    return make


def _call_id_of(tool_call: Any) -> str | None:
    call_id = tool_call.get("id") if isinstance(tool_call, dict) else getattr(tool_call, "id", None)
    return str(call_id) if call_id else None


def _native_call_wrapper(tracer: trace.Tracer) -> _wrap.Wrapper:
    def wrapper(wrapped, instance, args, kwargs):
        tool_call = args[0] if args else kwargs.get("tool_call")
        token = _native_call_id.set(_wrap.guarded("crewai.tool.call_id", _call_id_of, tool_call))
        try:
            return wrapped(*args, **kwargs)
        finally:
            _native_call_id.reset(token)

    return wrapper


TARGETS = [
    _wrap.Target("crewai.crew", "Crew.kickoff", _run_wrapper(_crew_invocation, _record_output, "crewai.crew.kickoff", streams_reenter=True)),
    _wrap.Target("crewai.crew", "Crew.akickoff", _run_wrapper(_crew_invocation, _record_output, "crewai.crew.akickoff", streams_reenter=True)),
    _wrap.Target("crewai.agent.core", "Agent.execute_task",
                 _run_wrapper(_task_invocation, _record_output, "crewai.agent.execute_task")),
    _wrap.Target("crewai.agent.core", "Agent.aexecute_task",
                 _run_wrapper(_task_invocation, _record_output, "crewai.agent.aexecute_task")),
    _wrap.Target("crewai.agent.core", "Agent.kickoff", _run_wrapper(_kickoff_invocation, _record_output, "crewai.agent.kickoff")),
    _wrap.Target("crewai.agent.core", "Agent.kickoff_async",
                 _run_wrapper(_kickoff_invocation, _record_output, "crewai.agent.kickoff_async")),
    _wrap.Target("crewai.agent.core", "Agent.akickoff", _run_wrapper(_kickoff_invocation, _record_output, "crewai.agent.akickoff")),
    *(
        _wrap.Target(module, f"{cls}.{method}", _chat_wrapper(f"crewai.llm.{method}"))
        for module, cls in _PROVIDER_MODULES.items()
        for method in ("call", "acall")
    ),
    _wrap.Target("crewai.llms.base_llm", "BaseLLM._track_token_usage_internal", _usage_wrapper),
    _wrap.Target("crewai.llms.base_llm", "BaseLLM._emit_call_completed_event", _completion_wrapper),
    _wrap.Target("crewai.tools.base_tool", "BaseTool.run", _tool_wrapper("crewai.tool.run")),
    _wrap.Target("crewai.tools.base_tool", "BaseTool.arun", _tool_wrapper("crewai.tool.arun")),
    _wrap.Target("crewai.tools.base_tool", "Tool.run", _tool_wrapper("crewai.tool.run")),
    _wrap.Target("crewai.tools.base_tool", "Tool.arun", _tool_wrapper("crewai.tool.arun")),
    _wrap.Target("crewai.agents.agent_executor", "AgentExecutor._execute_single_native_tool_call", _native_call_wrapper),
]
