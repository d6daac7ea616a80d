"""LangChain / LangGraph wrappers: graph and agent runs, chat-model calls and tool runs.

- Graphs: ``Pregel.invoke/ainvoke/stream/astream`` (``langchain.agents.create_agent`` returns a compiled
  graph) -> ``invoke_agent {graph name}``. ``invoke`` runs through ``stream`` internally: the inner call is
  not a second run, so ``invoke`` marks it to be skipped.
- Chat models: ``BaseChatModel._generate_with_cache`` / ``_agenerate_with_cache`` (what ``invoke``,
  ``batch`` and ``generate`` of every provider go through, streaming with ``stream_mode="messages"``
  included) and ``stream`` / ``astream`` -> ``chat {model}`` with usage.
- Tools: ``BaseTool.run`` / ``arun`` (what ``invoke`` and LangGraph's ``ToolNode`` call) ->
  ``execute_tool {name}`` with the tool-call id.
"""

from __future__ import annotations

import contextvars
from collections.abc import Mapping
from typing import Any

from opentelemetry import trace

from ... import task_context
from .. import _wrap


def _argument(args: tuple[Any, ...], kwargs: dict[str, Any], index: int, name: str) -> Any:
    return kwargs[name] if name in kwargs else (args[index] if len(args) > index else None)


# --- graphs ------------------------------------------------------------------------------------------

# The graph whose next ``stream``/``astream`` call is its own ``invoke``/``ainvoke`` running, not a new run.
_inner_stream_of: contextvars.ContextVar[Any] = contextvars.ContextVar("xpander_langgraph_inner", default=None)


def _message_text(message: Any) -> str | None:
    if isinstance(message, Mapping):
        content = message.get("content")
    elif isinstance(message, (tuple, list)) and len(message) == 2:
        content = message[1]
    else:
        content = getattr(message, "content", None)
    if isinstance(content, list):
        content = "".join(p.get("text", "") if isinstance(p, Mapping) else str(p) for p in content) or None
    return content if isinstance(content, str) and content else None


def _messages_of(value: Any) -> Any:
    return value.get("messages") if isinstance(value, Mapping) else None


def _input_text(graph_input: Any) -> Any:
    messages = _messages_of(graph_input)
    if isinstance(messages, list) and messages:
        return _message_text(messages[-1]) or messages[-1]
    return graph_input


def _is_ai_message(message: Any) -> bool:
    return getattr(message, "type", None) in ("ai", "AIMessageChunk") or (
        isinstance(message, Mapping) and message.get("role") == "assistant"
    )


def _final_text(state: Any) -> str | None:
    """The last AI message text in a graph state, or in an ``updates`` chunk ({node: state})."""
    messages = _messages_of(state)
    if isinstance(messages, list):
        for message in reversed(messages):
            if _is_ai_message(message):
                return _message_text(message)
        return None
    if isinstance(state, Mapping):
        for update in state.values():
            text = _final_text(update) if isinstance(update, Mapping) else None
            if text is not None:
                return text
    return None


def _graph_invocation(instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> _wrap.AgentInvocation:
    config = _argument(args, kwargs, 1, "config") or {}
    metadata = {**((getattr(instance, "config", None) or {}).get("metadata") or {}), **(config.get("metadata") or {})}
    name = getattr(instance, "name", None)
    return _wrap.AgentInvocation(
        name=name,
        conversation_id=(config.get("configurable") or {}).get("thread_id"),
        xpander=task_context.xpander_attributes(name, metadata),
        input=_input_text(_argument(args, kwargs, 0, "input")),
    )


def _start_graph(tracer: trace.Tracer, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]):
    return _wrap.start(tracer, _graph_invocation, instance, args, kwargs, where="langgraph.run")


def _record_graph_result(invocation: _wrap.AgentInvocation, result: Any) -> None:
    if _wrap.content_capture().task:
        invocation.output = _final_text(result)


def _record_graph_chunk(invocation: _wrap.AgentInvocation, chunk: Any) -> None:
    if not _wrap.content_capture().task:
        return
    # (mode, payload) / (namespace, mode, payload) with several modes or subgraphs; v2 stream parts.
    if isinstance(chunk, tuple) and chunk and isinstance(chunk[-1], Mapping):
        chunk = chunk[-1]
    elif isinstance(chunk, Mapping) and "type" in chunk and "data" in chunk:
        chunk = chunk["data"]
    text = _final_text(chunk)
    if text is not None:
        invocation.output = text


def graph_invoke(tracer: trace.Tracer):
    def wrapper(wrapped, instance, args, kwargs):
        def run(*a: Any, **k: Any) -> Any:
            token = _inner_stream_of.set(instance)
            try:
                return wrapped(*a, **k)
            finally:
                _inner_stream_of.reset(token)

        operation = _start_graph(tracer, instance, args, kwargs)
        return _wrap.call(operation, run, args, kwargs, on_result=_record_graph_result)

    return wrapper


def graph_ainvoke(tracer: trace.Tracer):
    def wrapper(wrapped, instance, args, kwargs):
        async def run(*a: Any, **k: Any) -> Any:
            token = _inner_stream_of.set(instance)
            try:
                return await wrapped(*a, **k)
            finally:
                _inner_stream_of.reset(token)

        operation = _start_graph(tracer, instance, args, kwargs)
        return _wrap.call(operation, run, args, kwargs, on_result=_record_graph_result)

    return wrapper


def graph_stream(tracer: trace.Tracer):
    """``stream`` and ``astream``: a run of its own, unless it is the inside of ``invoke``/``ainvoke``."""

    def wrapper(wrapped, instance, args, kwargs):
        if _inner_stream_of.get() is instance:
            _inner_stream_of.set(None)
            return wrapped(*args, **kwargs)
        operation = _start_graph(tracer, instance, args, kwargs)
        return _wrap.call(operation, wrapped, args, kwargs, on_chunk=_record_graph_chunk)

    return wrapper


# --- chat models -------------------------------------------------------------------------------------


def _usage(metadata: Any) -> _wrap.Usage | None:
    if not metadata:
        return None
    details = metadata.get("input_token_details") or {}
    return _wrap.Usage(
        input_tokens=metadata.get("input_tokens"),
        output_tokens=metadata.get("output_tokens"),
        cache_read_input_tokens=details.get("cache_read"),
        cache_write_input_tokens=details.get("cache_creation"),
    )


def _messages_for_capture(messages: Any) -> Any:
    return [{"role": getattr(m, "type", None), "content": getattr(m, "content", m)} for m in messages or ()]


def _chat_invocation(instance: Any, messages: Any, kwargs: dict[str, Any]) -> _wrap.ChatInvocation:
    params = instance._get_ls_params(stop=kwargs.get("stop"))
    invocation = _wrap.ChatInvocation(
        provider=params.get("ls_provider"), request_model=params.get("ls_model_name")
    )
    # A graph does not name its model: the agent run takes the model of its first LLM call.
    agent = _wrap.current_agent()
    if agent is not None and agent.request_model is None:
        agent.request_model = invocation.request_model
    if _wrap.content_capture().messages:
        invocation.input_messages = _messages_for_capture(messages)
    return invocation


def _start_chat(tracer: trace.Tracer, instance: Any, messages: Any, kwargs: dict[str, Any]):
    return _wrap.start(tracer, _chat_invocation, instance, messages, kwargs, where="langchain.chat")


def _record_message(invocation: _wrap.ChatInvocation, message: Any) -> None:
    metadata = getattr(message, "response_metadata", None) or {}
    invocation.response_model = metadata.get("model_name") or invocation.response_model
    invocation.response_id = metadata.get("id") or invocation.response_id
    if finish := metadata.get("finish_reason"):
        invocation.finish_reasons = [finish]
    usage = _usage(getattr(message, "usage_metadata", None))
    if usage is not None:
        invocation.usage.add(usage)


def _record_chat_result(invocation: _wrap.ChatInvocation, result: Any) -> None:
    generations = getattr(result, "generations", None) or ()
    for generation in generations[:1]:
        _record_message(invocation, generation.message)
        if _wrap.content_capture().messages:
            invocation.output_messages = _messages_for_capture([generation.message])


def _record_chat_chunk(invocation: _wrap.ChatInvocation, chunk: Any) -> None:
    # Usage arrives in the last chunk (``stream_usage``); sum in case a provider splits it.
    _record_message(invocation, chunk)


def chat_generate(tracer: trace.Tracer):
    """``_generate_with_cache`` and ``_agenerate_with_cache`` (messages first)."""

    def wrapper(wrapped, instance, args, kwargs):
        operation = _start_chat(tracer, instance, _argument(args, kwargs, 0, "messages"), kwargs)
        return _wrap.call(operation, wrapped, args, kwargs, on_result=_record_chat_result)

    return wrapper


def _streams_natively(instance: Any, kwargs: dict[str, Any], async_api: bool) -> bool:
    # Otherwise ``stream`` falls back to ``invoke``, whose ``_generate_with_cache`` has its own span.
    return bool(instance._should_stream(async_api=async_api, **{**kwargs, "stream": True}))


def _chat_stream(tracer: trace.Tracer, *, async_api: bool):
    """``stream`` and ``astream``."""

    def wrapper(wrapped, instance, args, kwargs):
        if not _wrap.guarded("langchain.should_stream", _streams_natively, instance, kwargs, async_api):
            return wrapped(*args, **kwargs)
        input_ = _argument(args, kwargs, 0, "input")
        messages = input_ if isinstance(input_, list) else [input_]
        operation = _start_chat(tracer, instance, messages, kwargs)
        return _wrap.call(operation, wrapped, args, kwargs, on_chunk=_record_chat_chunk)

    return wrapper


def chat_stream(tracer: trace.Tracer):
    return _chat_stream(tracer, async_api=False)


def chat_astream(tracer: trace.Tracer):
    return _chat_stream(tracer, async_api=True)


# --- tools -------------------------------------------------------------------------------------------


def _tool_invocation(instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> _wrap.ToolInvocation:
    invocation = _wrap.ToolInvocation(
        name=getattr(instance, "name", None),
        call_id=kwargs.get("tool_call_id"),
        description=getattr(instance, "description", None) or None,
    )
    if _wrap.content_capture().messages:
        invocation.arguments = _argument(args, kwargs, 0, "tool_input")
    return invocation


def _record_tool_result(invocation: _wrap.ToolInvocation, result: Any) -> None:
    # A tool with ``handle_tool_error`` returns its failure as an error ToolMessage instead of raising.
    if getattr(result, "status", None) == "error":
        invocation.fail(getattr(result, "content", None), "tool_error")
    if _wrap.content_capture().messages:
        invocation.result = getattr(result, "content", result)


def tool_run(tracer: trace.Tracer):
    """``BaseTool.run`` and ``arun``."""

    def wrapper(wrapped, instance, args, kwargs):
        operation = _wrap.start(tracer, _tool_invocation, instance, args, kwargs, where="langchain.tool")
        return _wrap.call(operation, wrapped, args, kwargs, on_result=_record_tool_result)

    return wrapper


_CHAT_MODELS = "langchain_core.language_models.chat_models"
_TOOLS = "langchain_core.tools.base"
# Without LangGraph installed these four are skipped (one debug line each); chat and tool spans remain.
_GRAPHS = "langgraph.pregel.main"
TARGETS = [
    _wrap.Target(_CHAT_MODELS, "BaseChatModel._generate_with_cache", chat_generate),
    _wrap.Target(_CHAT_MODELS, "BaseChatModel._agenerate_with_cache", chat_generate),
    _wrap.Target(_CHAT_MODELS, "BaseChatModel.stream", chat_stream),
    _wrap.Target(_CHAT_MODELS, "BaseChatModel.astream", chat_astream),
    _wrap.Target(_TOOLS, "BaseTool.run", tool_run),
    _wrap.Target(_TOOLS, "BaseTool.arun", tool_run),
    _wrap.Target(_GRAPHS, "Pregel.invoke", graph_invoke),
    _wrap.Target(_GRAPHS, "Pregel.ainvoke", graph_ainvoke),
    _wrap.Target(_GRAPHS, "Pregel.stream", graph_stream),
    _wrap.Target(_GRAPHS, "Pregel.astream", graph_stream),
]
