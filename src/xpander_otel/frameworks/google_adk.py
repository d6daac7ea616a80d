"""Google ADK: ``google.adk.agents.LlmAgent(**args)``.

Sets ``name`` (the agent's name made a valid Python identifier, as ADK requires; never ``user``),
``model``, ``instruction`` (role, goal, general, expected output, the task's override and context),
``description``, ``tools`` (ADK wraps plain functions itself) and, for JSON output with a schema,
``output_schema`` (the schema dict).

The model is a ``LiteLlm`` holding the resolved key, so the key policy holds for every provider:
``openai/<model>`` with ``api_base`` for OpenAI and OpenAI-compatible providers and endpoints (the
provider prefix LiteLLM expects), ``anthropic/<model>`` and ``gemini/<model>`` for those providers' own
APIs; the extra LLM headers go along as ``extra_headers``. ADK's LiteLLM wrapper asks for
``include_usage`` when streaming, so streamed runs report tokens.

LiteLLM downloads a model cost map when imported unless ``LITELLM_LOCAL_MODEL_COST_MAP=True`` is set:
set it for offline or locked-down deployments (the tests do).

ADK's ``LlmAgent`` has no metadata field: the agent's name is registered with
``task_context.register_agent`` so the instrumentation maps it to the xpander agent id.
"""

from __future__ import annotations

from typing import Any

from google.adk.models.lite_llm import LiteLlm

from . import _common
from ._context import BuildContext

# ADK reserves "user" for the end user's turns.
_RESERVED_NAMES = {"user": "user_agent"}


def build_args(ctx: BuildContext) -> dict[str, Any]:
    name = _common.identifier(ctx.agent.name or ctx.agent.id)
    args: dict[str, Any] = {
        "name": _RESERVED_NAMES.get(name, name),
        "model": build_model(ctx),
        "instruction": _common.instructions(ctx),
        "description": ctx.agent.description or "",
        "tools": list(ctx.tools or []),
    }
    schema = _common.output_schema(ctx)
    if schema is not None:
        args["output_schema"] = schema
    return _common.finish(args, ctx)


def litellm_model_name(ctx: BuildContext) -> str:
    """The model name with the provider prefix LiteLLM routes on."""
    prefix = _common.native_provider(ctx) or "openai"
    return f"{prefix}/{ctx.agent.model_name}"


def build_model(ctx: BuildContext) -> LiteLlm:
    """A ``LiteLlm`` with the resolved key, and the base URL for OpenAI-compatible endpoints."""
    kwargs: dict[str, Any] = {"api_key": _common.model_key(ctx)}
    if _common.native_provider(ctx) is None:
        base_url = _common.openai_base_url(ctx)
        if base_url:
            kwargs["api_base"] = base_url
    if ctx.headers:
        kwargs["extra_headers"] = dict(ctx.headers)
    return LiteLlm(model=litellm_model_name(ctx), **kwargs)
