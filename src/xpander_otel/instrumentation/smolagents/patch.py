"""Wrappers for smolagents' call paths.

- Runs: ``MultiStepAgent.run``, shared by ``ToolCallingAgent`` and ``CodeAgent``. With ``stream=True`` it
  returns a lazy generator of steps; the span then ends when the generator is exhausted, fails, is
  closed or is dropped. A managed agent is called through ``__call__`` -> ``run``: its span nests under
  the manager's. smolagents has no async API.
- Model calls: ``generate``/``generate_stream`` of each model class in ``smolagents.models`` that defines
  them (``OpenAIModel`` = ``OpenAIServerModel``, ``LiteLLMModel``, ``InferenceClientModel``, ...); usage
  comes from the returned ``ChatMessage.token_usage`` or from the stream's usage deltas.
- Tools: ``Tool.__call__``. A run ends when the model calls the built-in ``final_answer`` tool (any tool
  of that name ends it); that call is the run's result, not a tool the agent used, so it gets no
  ``execute_tool`` span and never shows up in a report's ``used_tools``.
- Tool call ids: ``ToolCallingAgent.process_tool_calls`` yields each ``ToolCall`` before running it; we
  note the ids per tool name so the tool span can carry ``gen_ai.tool.call.id``.
"""

from __future__ import annotations

import contextvars
import inspect
from typing import Any

from opentelemetry import trace

from ... import task_context
from .. import _wrap

FINAL_ANSWER_TOOL = "final_answer"

# smolagents model class -> gen_ai.provider.name (the first match along the class's MRO).
_PROVIDERS = {
    "AzureOpenAIModel": "azure.ai.openai",
    "AzureOpenAIServerModel": "azure.ai.openai",
    "OpenAIServerModel": "openai",
    "OpenAIModel": "openai",
    "AmazonBedrockModel": "aws.bedrock",
    "InferenceClientModel": "huggingface",
    "TransformersModel": "huggingface",
}

# Tool call ids the running ``process_tool_calls`` announced, by tool name, in call order.
_pending_call_ids: contextvars.ContextVar[dict[str, list[str]] | None] = contextvars.ContextVar(
    "xpander_smolagents_call_ids", default=None
)
# Set while a model call's span is open: a subclass calling ``super().generate`` gets no second span.
_in_model_call: contextvars.ContextVar[bool] = contextvars.ContextVar("xpander_smolagents_model_call", default=False)


def _provider(model: Any) -> str | None:
    for cls in type(model).__mro__:
        if cls.__name__ in _PROVIDERS:
            return _PROVIDERS[cls.__name__]
    model_id = getattr(model, "model_id", None)
    # LiteLLM model ids name their provider: "anthropic/claude-...".
    if type(model).__name__.startswith("LiteLLM") and isinstance(model_id, str) and "/" in model_id:
        return model_id.split("/", 1)[0]
    return None


# --- agent runs --------------------------------------------------------------------------------------


def _run_invocation(agent: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> _wrap.AgentInvocation:
    model = getattr(agent, "model", None)
    name = getattr(agent, "name", None) or type(agent).__name__
    return _wrap.AgentInvocation(
        name=name,
        description=getattr(agent, "description", None),
        provider=_provider(model),
        request_model=getattr(model, "model_id", None),
        xpander=task_context.xpander_attributes(name),
        input=args[0] if args else kwargs.get("task"),
    )


def _record_run_output(invocation: _wrap.AgentInvocation, output: Any) -> None:
    # ``return_full_result=True`` gives a RunResult; its ``output`` is the answer.
    invocation.output = getattr(output, "output", output) if type(output).__name__ == "RunResult" else output


def _record_run_step(invocation: _wrap.AgentInvocation, step: Any) -> None:
    if type(step).__name__ == "FinalAnswerStep":
        invocation.output = step.output


def _run_wrapper(tracer: trace.Tracer) -> _wrap.Wrapper:
    def wrapper(wrapped, instance, args, kwargs):
        operation = _wrap.start(tracer, _run_invocation, instance, args, kwargs, where="smolagents.run")
        return _wrap.call(operation, wrapped, args, kwargs, on_result=_record_run_output, on_chunk=_record_run_step)

    return wrapper


# --- model calls -------------------------------------------------------------------------------------


def _chat_invocation(model: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> _wrap.ChatInvocation:
    invocation = _wrap.ChatInvocation(request_model=getattr(model, "model_id", None), provider=_provider(model))
    if _wrap.content_capture().messages:
        messages = args[0] if args else kwargs.get("messages")
        invocation.input_messages = [_message(m) for m in messages or ()]
    return invocation


def _message(message: Any) -> Any:
    if isinstance(message, dict):
        return {"role": str(message.get("role")), "content": message.get("content")}
    role = getattr(message, "role", None)
    return {"role": getattr(role, "value", role), "content": getattr(message, "content", None)}


def _add_usage(invocation: _wrap.ChatInvocation, token_usage: Any) -> None:
    if token_usage is not None:
        invocation.usage.add(_wrap.Usage(
            input_tokens=getattr(token_usage, "input_tokens", None),
            output_tokens=getattr(token_usage, "output_tokens", None),
        ))


def _record_message(invocation: _wrap.ChatInvocation, message: Any) -> None:
    """A whole ``ChatMessage``: usage, and from an OpenAI-style raw response its model, id and finish."""
    _add_usage(invocation, getattr(message, "token_usage", None))
    raw = getattr(message, "raw", None)
    invocation.response_model = _str_or_none(getattr(raw, "model", None))
    invocation.response_id = _str_or_none(getattr(raw, "id", None))
    choices = getattr(raw, "choices", None)
    if isinstance(choices, list) and choices and getattr(choices[0], "finish_reason", None):
        invocation.finish_reasons = [str(choices[0].finish_reason)]
    if _wrap.content_capture().messages:
        invocation.output_messages = _message(message)


def _record_delta(invocation: _wrap.ChatInvocation, delta: Any) -> None:
    """One ``ChatMessageStreamDelta``: smolagents reports the stream's usage in its own delta."""
    _add_usage(invocation, getattr(delta, "token_usage", None))
    if _wrap.content_capture().messages and isinstance(getattr(delta, "content", None), str):
        output = invocation.output_messages or {"role": "assistant", "content": ""}
        output["content"] += delta.content
        invocation.output_messages = output


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _model_wrapper(where: str):
    def make(tracer: trace.Tracer) -> _wrap.Wrapper:
        def wrapper(wrapped, instance, args, kwargs):
            if _in_model_call.get():
                return wrapped(*args, **kwargs)
            operation = _wrap.start(tracer, _chat_invocation, instance, args, kwargs, where=where)
            token = _in_model_call.set(True)
            try:
                return _wrap.call(operation, wrapped, args, kwargs, on_result=_record_message, on_chunk=_record_delta)
            finally:
                _in_model_call.reset(token)

        return wrapper

    return make


# --- tools -------------------------------------------------------------------------------------------


def _tool_invocation(tool: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> _wrap.ToolInvocation:
    name = getattr(tool, "name", None)
    pending = _pending_call_ids.get()
    ids = pending.get(name) if pending is not None else None
    arguments = {k: v for k, v in kwargs.items() if k != "sanitize_inputs_outputs"} or (args[0] if args else None)
    return _wrap.ToolInvocation(
        name=name,
        call_id=ids.pop(0) if ids else None,
        description=getattr(tool, "description", None),
        arguments=arguments,
    )


def _record_tool_result(invocation: _wrap.ToolInvocation, result: Any) -> None:
    invocation.result = result


def _tool_wrapper(tracer: trace.Tracer) -> _wrap.Wrapper:
    def wrapper(wrapped, instance, args, kwargs):
        if getattr(instance, "name", None) == FINAL_ANSWER_TOOL:
            return wrapped(*args, **kwargs)
        operation = _wrap.start(tracer, _tool_invocation, instance, args, kwargs, where="smolagents.tool")
        return _wrap.call(operation, wrapped, args, kwargs, on_result=_record_tool_result)

    return wrapper


def _announced_call_ids(steps: Any):
    """``process_tool_calls``' generator, noting each announced ``ToolCall`` id while it runs."""
    pending: dict[str, list[str]] = {}
    try:
        while True:
            token = _pending_call_ids.set(pending)
            try:
                item = next(steps)
            except StopIteration:
                return
            finally:
                _pending_call_ids.reset(token)
            if type(item).__name__ == "ToolCall" and getattr(item, "id", None):
                pending.setdefault(item.name, []).append(str(item.id))
            yield item
    finally:
        steps.close()


def _call_ids_wrapper(tracer: trace.Tracer) -> _wrap.Wrapper:
    def wrapper(wrapped, instance, args, kwargs):
        steps = wrapped(*args, **kwargs)
        return _announced_call_ids(steps) if inspect.isgenerator(steps) else steps

    return wrapper


def _model_targets() -> list[_wrap.Target]:
    try:
        from smolagents import models
    except ImportError:
        return []
    targets = []
    for name, cls in sorted(vars(models).items()):
        if not (isinstance(cls, type) and issubclass(cls, models.Model)) or cls is models.Model:
            continue
        if cls.__module__ != models.__name__ or getattr(models, name) is not cls or name != cls.__name__:
            continue  # aliases (OpenAIServerModel = OpenAIModel) and re-exports
        for method in ("generate", "generate_stream"):
            if method in cls.__dict__:
                targets.append(_wrap.Target(models.__name__, f"{name}.{method}", _model_wrapper(f"smolagents.{method}")))
    return targets


def targets() -> list[_wrap.Target]:
    """What ``SmolagentsInstrumentor`` wraps: agent runs, every built-in model class, tools, call ids."""
    return [
        _wrap.Target("smolagents.agents", "MultiStepAgent.run", _run_wrapper),
        *_model_targets(),
        _wrap.Target("smolagents.tools", "Tool.__call__", _tool_wrapper),
        _wrap.Target("smolagents.agents", "ToolCallingAgent.process_tool_calls", _call_ids_wrapper),
    ]
