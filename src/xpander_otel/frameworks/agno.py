"""Agno: ``agno.agent.Agent(**args)``.

Sets ``id`` (the xpander agent id), ``name``, ``description``, ``model``, ``instructions`` (role, goal,
general, the task's override), ``expected_output`` and ``additional_context`` (the task's), ``markdown``
when the output format is markdown, ``output_schema`` for JSON output with a schema, ``tools``, and
``metadata`` = ``{"xpander_agent_id": ..., "xpander_task_id": ...}`` (``task_context.METADATA_*``), which
the instrumentation reads. The agent name is also registered with ``task_context.register_agent``.

The model: ``OpenAIChat`` for OpenAI (also behind the agent's own ``llm_api_base``), ``OpenAILike`` for
other OpenAI-compatible providers and endpoints, ``Claude`` for Anthropic and ``Gemini`` for Google
(these two need the ``anthropic`` / ``google-genai`` packages). Agno streams with
``stream_options.include_usage`` on its own, so streamed runs report tokens.
"""

from __future__ import annotations

from typing import Any

from agno.models.base import Model
from agno.models.openai import OpenAIChat, OpenAILike

from . import _common
from ._context import BuildContext


def build_args(ctx: BuildContext) -> dict[str, Any]:
    agent = ctx.agent
    args: dict[str, Any] = {
        "id": agent.id,
        "name": agent.name or None,
        "description": agent.description,
        "model": build_model(ctx),
        "instructions": _common.instructions(ctx, with_context=False) or None,
        "expected_output": agent.expected_output,
        "additional_context": ctx.task.additional_context if ctx.task is not None else None,
        "markdown": _common.output_format(ctx) == "markdown",
        "tools": list(ctx.tools or []),
        "metadata": _common.metadata(ctx),
    }
    schema = _common.output_schema(ctx)
    if schema is not None:
        args["output_schema"] = schema
    return _common.finish(args, ctx)


def build_model(ctx: BuildContext) -> Model:
    """The Agno model for the agent's provider, holding the resolved key."""
    agent = ctx.agent
    native = _common.native_provider(ctx)
    key = _common.model_key(ctx)
    if native == "anthropic":
        _common.require("anthropic", '"agno[anthropic]"')
        from agno.models.anthropic import Claude

        return Claude(id=agent.model_name, api_key=key, default_headers=_common.headers_or_none(ctx.headers))
    if native == "gemini":
        _common.require("google.genai", '"agno[google]"')
        from agno.models.google import Gemini

        return Gemini(id=agent.model_name, api_key=key)
    model_class = OpenAIChat if agent.model_provider == "openai" else OpenAILike
    return model_class(
        id=agent.model_name,
        api_key=key,
        base_url=_common.openai_base_url(ctx),
        default_headers=_common.headers_or_none(ctx.headers),
    )
